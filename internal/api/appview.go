package api

import (
	"encoding/json"

	"github.com/prosperhq/prosper/internal/store"
)

// MarshalJSON writes the app's fields and the view's side by side. Without it,
// store.App's MarshalJSON is promoted through the embedding and writes the app's
// fields alone: no git_url, url, live_release or state.
func (v AppView) MarshalJSON() ([]byte, error) {
	type plainApp store.App // store.App's fields without its methods
	p := plainApp(v.App)
	if p.Domains == nil {
		p.Domains = []string{}
	}
	return json.Marshal(struct {
		plainApp
		GitURL      string `json:"git_url"`
		URL         string `json:"url"`
		LiveRelease int    `json:"live_release,omitempty"`
		State       string `json:"state"`
	}{p, v.GitURL, v.URL, v.LiveRelease, v.State})
}
