package server

import (
	"html/template"
	"net/http"
)

// The web UI grows here; for now the home page says what runs and where to go.
var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prosper</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>prosper</h1>
<p>Control plane {{.Version}} is running. Apps are served by the router at <a href="{{.RouterURL}}">{{.RouterURL}}</a>.</p>
<p>Use the CLI: <code>prosper login {{.APIURL}} --token $(cat DATA_DIR/admin-token)</code>,
then <code>prosper app list</code>. The API lives under <code>/api/</code> and needs the token.</p>
</body></html>
`))

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexPage.Execute(w, map[string]string{"Version": s.cfg.Version, "RouterURL": s.routerURL, "APIURL": s.URL()})
}
