package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/prosperhq/prosper/internal/importer"
)

// maxImportBytes bounds one import request; prosper import git sends a long
// history in several.
const maxImportBytes = 64 << 20

// handleImport imports past commits, deployments and incidents (the JSON format
// of importer.Document): the webhook of other tools and of prosper import. A
// document is imported whole or not at all; importing it again adds nothing.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	var doc importer.Document
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxImportBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "the import is larger than 64 MiB", "send it in several documents: each is imported on its own")
			return
		}
		writeError(w, http.StatusBadRequest, "the import is not valid JSON: "+err.Error(),
			`the format: {"commits": [...], "deployments": [...], "incidents": [...]}, see the README`)
		return
	}
	sum, err := importer.Apply(r.Context(), s.store, doc)
	if errors.Is(err, importer.ErrInvalid) {
		writeError(w, http.StatusBadRequest, "nothing was imported: "+err.Error(), "")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "what was imported stays; send the same document again to import the rest")
		return
	}
	s.log.Info("history imported", "commits", sum.Commits, "deployments", sum.Deployments, "incidents", sum.Incidents,
		"resolved", sum.Resolved, "skipped", sum.Skipped)
	writeJSON(w, http.StatusOK, sum)
}
