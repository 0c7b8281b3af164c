package server

import (
	"context"
	"net/http"
)

// routes wires every endpoint. ctx lives as long as the server; deploys run under
// it rather than under their request, so a client that hangs up does not leave a
// half-made release behind.
func (s *Server) routes(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	auth := s.requireToken
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, auth(h)) }

	mux.HandleFunc("GET /api/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("GET /api/info", s.handleInfo)
	handle("GET /api/apps", s.handleListApps)
	handle("POST /api/apps", s.handleCreateApp)
	handle("GET /api/apps/{app}", s.handleGetApp)
	handle("DELETE /api/apps/{app}", s.handleDeleteApp)
	handle("GET /api/apps/{app}/status", s.handleStatus)
	handle("GET /api/apps/{app}/releases", s.handleReleases)
	handle("GET /api/apps/{app}/releases/{version}/log", s.handleBuildLog)
	handle("POST /api/apps/{app}/deploys", s.deployHandler(ctx))
	handle("POST /api/apps/{app}/rollback", s.rollbackHandler(ctx))
	handle("GET /api/apps/{app}/config", s.handleGetConfig)
	handle("PATCH /api/apps/{app}/config", s.configHandler(ctx))
	handle("GET /api/apps/{app}/logs", s.handleLogs)
	handle("GET /api/apps/{app}/crashes", s.handleCrashes)
	handle("GET /api/apps/{app}/commits", s.handleCommits)
	handle("GET /api/apps/{app}/verify", s.handleVerifyStatus)
	handle("POST /api/apps/{app}/verify/{action}", s.handleVerifyCommand)
	handle("GET /api/apps/{app}/bots", s.handleBotRuns)
	handle("GET /api/incidents", s.handleIncidents)
	handle("POST /api/incidents", s.handleOpenIncident)
	handle("POST /api/incidents/{id}/resolve", s.handleResolveIncident)
	handle("POST /api/import", s.handleImport)
	handle("GET /api/dora", s.handleDORA)
	handle("GET /api/events", s.handleEvents)
	handle("POST /api/apps/{app}/tests", s.handleTestIngest)
	handle("GET /api/tests/report", s.handleTestReport)
	handle("GET /api/apps/{app}/metrics", s.handleAppMetrics)
	handle("GET /api/apps/{app}/series", s.handleSeries)
	handle("GET /api/routers", s.handleRouters)
	handle("GET /metrics", s.handlePrometheus)

	mux.HandleFunc("GET /git/{repo}/info/refs", s.handleGitInfoRefs)
	mux.HandleFunc("POST /git/{repo}/git-upload-pack", s.handleGitRPC("upload-pack"))
	mux.HandleFunc("POST /git/{repo}/git-receive-pack", s.handleGitRPC("receive-pack"))

	mux.Handle("POST /internal/apps/{app}/commits", s.requireHookToken(http.HandlerFunc(s.handleHookCommits)))
	mux.Handle("POST /internal/apps/{app}/deploy", s.requireHookToken(s.hookDeployHandler(ctx)))

	s.mountUI(ctx, mux) // the web UI, home page included
	return mux
}
