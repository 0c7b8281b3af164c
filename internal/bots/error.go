package bots

import "github.com/prosperhq/prosper/internal/yamlfile"

// Error is a problem found in a scenario file, at FILE:LINE:COL.
type Error = yamlfile.Error
