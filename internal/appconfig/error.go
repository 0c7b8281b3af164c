package appconfig

import "github.com/prosperhq/prosper/internal/yamlfile"

// Error is a problem found in a prosper.yaml file. It always says where the
// problem is (FILE:LINE:COL), so a user can jump to it, and when possible what to
// write instead.
type Error = yamlfile.Error
