package clusterfile

import "github.com/prosperhq/prosper/internal/yamlfile"

// Error is a problem found in a cluster file, at FILE:LINE:COL.
type Error = yamlfile.Error
