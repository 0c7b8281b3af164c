package store

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
)

// encodeVerification checks a release's verification report and returns the
// copy to keep (so the caller's buffer does not show through the returned
// release) and the column value. Empty and JSON null are no report: NULL, and
// nil in the release. The report's shape belongs to the rollout, which writes
// it; the store only checks that it is JSON and keeps it as TEXT, so the report
// can grow without a migration.
func encodeVerification(v json.RawMessage) (json.RawMessage, sql.NullString, error) {
	if len(v) == 0 || string(bytes.TrimSpace(v)) == "null" {
		return nil, sql.NullString{}, nil
	}
	if !json.Valid(v) {
		return nil, sql.NullString{}, fmt.Errorf("verification is not valid JSON: %w", ErrInvalid)
	}
	return append(json.RawMessage(nil), v...), sql.NullString{String: string(v), Valid: true}, nil
}
