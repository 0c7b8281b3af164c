package hcloudsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is an error the API answers with, in the real API's error shape.
type apiError struct {
	status  int
	code    string
	message string
	details any
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// statusFor returns the HTTP status the real API uses for an error code.
func statusFor(code string) int {
	switch code {
	case "unauthorized":
		return http.StatusUnauthorized
	case "forbidden":
		return http.StatusForbidden
	case "not_found":
		return http.StatusNotFound
	case "invalid_input", "json_error":
		return http.StatusBadRequest
	case "uniqueness_error", "conflict":
		return http.StatusConflict
	case "locked", "resource_in_use", "placement_error", "resource_unavailable",
		"server_not_stopped", "protected", "resource_limit_exceeded":
		return http.StatusUnprocessableEntity
	case "rate_limit_exceeded":
		return http.StatusTooManyRequests
	case "maintenance", "unavailable":
		return http.StatusServiceUnavailable
	case "bad_gateway":
		return http.StatusBadGateway
	case "timeout":
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

func errorf(code, format string, args ...any) *apiError {
	return &apiError{status: statusFor(code), code: code, message: fmt.Sprintf(format, args...)}
}

func notFound(kind string, id int64) *apiError {
	return errorf("not_found", "%s with ID '%d' not found", kind, id)
}

// invalidInput reports a validation error on one field, with the details
// shape hcloud-go parses into ErrorDetailsInvalidInput.
func invalidInput(field, message string) *apiError {
	e := errorf("invalid_input", "invalid input in field '%s'", field)
	e.details = map[string]any{"fields": []map[string]any{{"name": field, "messages": []string{message}}}}
	return e
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	details := e.details
	if details == nil {
		details = map[string]any{}
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"code": e.code, "message": e.message, "details": details,
	}})
}

// handlerFunc is a route's handler: it returns the status and body to send,
// or an API error.
type handlerFunc func(r *http.Request) (int, any, *apiError)

// handle registers a route under the API's /v1 prefix. Every call goes
// through the same gate as the real API: count, latency, authentication,
// rate limit, injected faults. The handler then runs under the state lock,
// after actions have advanced, and its body is encoded under the lock too
// because it shares slices and maps with the state.
func (s *Sim) handle(route string, h handlerFunc) {
	s.handleUnlocked(route, func(r *http.Request) (int, any, *apiError) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.state.advance(time.Now())
		status, body, err := h(r)
		if err != nil || body == nil {
			return status, body, err
		}
		raw, merr := json.Marshal(body)
		if merr != nil {
			return 0, nil, errorf("server_error", "encode response: %v", merr)
		}
		return status, json.RawMessage(raw), nil
	})
}

// handleUnlocked registers a route whose handler takes the state lock
// itself, because it calls a hook that must run without it.
func (s *Sim) handleUnlocked(route string, h handlerFunc) {
	method, path, _ := strings.Cut(route, " ")
	s.mux.HandleFunc(method+" /v1"+path, func(w http.ResponseWriter, r *http.Request) {
		if d := s.gate(w, r, route); d != nil {
			writeError(w, d)
			return
		}
		status, body, err := h(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// gate applies everything that happens before a handler runs and returns the
// error that rejects the call, if any.
func (s *Sim) gate(w http.ResponseWriter, r *http.Request, route string) *apiError {
	s.mu.Lock()
	s.calls[route]++
	n := s.calls[route]
	s.mu.Unlock()

	if s.opts.Latency != nil {
		if d := s.opts.Latency(route); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
	}

	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" || (s.opts.Token != "" && token != s.opts.Token) {
		return errorf("unauthorized", "unable to authenticate")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	allowed, remaining, reset := s.limit.take(time.Now())
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(s.limit.size))
	h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if !allowed {
		return errorf("rate_limit_exceeded", "limit of %d requests per hour reached", s.limit.size)
	}
	for i, f := range s.faults {
		if f.Route == route && f.Nth == n {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			e := errorf(f.Code, "injected fault on call %d of %s", n, route)
			if f.Status != 0 {
				e.status = f.Status
			}
			return e
		}
	}
	return nil
}

// routes registers every endpoint the simulator implements; anything else
// is answered with the API's not_found error.
func (s *Sim) routes() {
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf("not_found", "no route %s %s", r.Method, r.URL.Path))
	})
	s.handle("GET /actions", s.listActions)
	s.handle("GET /actions/{id}", s.getAction)

	s.handle("GET /ssh_keys", s.listSSHKeys)
	s.handle("POST /ssh_keys", s.createSSHKey)
	s.handle("GET /ssh_keys/{id}", s.getSSHKey)
	s.handle("DELETE /ssh_keys/{id}", s.deleteSSHKey)

	s.handle("GET /networks", s.listNetworks)
	s.handle("POST /networks", s.createNetwork)
	s.handle("GET /networks/{id}", s.getNetwork)
	s.handle("DELETE /networks/{id}", s.deleteNetwork)

	s.handle("GET /firewalls", s.listFirewalls)
	s.handle("POST /firewalls", s.createFirewall)
	s.handle("GET /firewalls/{id}", s.getFirewall)
	s.handle("DELETE /firewalls/{id}", s.deleteFirewall)
	s.handle("POST /firewalls/{id}/actions/set_rules", s.setFirewallRules)

	s.handle("GET /placement_groups", s.listPlacementGroups)
	s.handle("POST /placement_groups", s.createPlacementGroup)
	s.handle("GET /placement_groups/{id}", s.getPlacementGroup)
	s.handle("DELETE /placement_groups/{id}", s.deletePlacementGroup)

	s.handle("GET /images", s.listImages)
	s.handle("GET /images/{id}", s.getImage)
	s.handle("DELETE /images/{id}", s.deleteImage)

	s.handle("GET /servers", s.listServers)
	s.handleUnlocked("POST /servers", s.createServer)
	s.handle("GET /servers/{id}", s.getServer)
	s.handle("PUT /servers/{id}", s.updateServer)
	s.handleUnlocked("DELETE /servers/{id}", s.deleteServer)
	s.handle("POST /servers/{id}/actions/create_image", s.createImage)

	s.handle("GET /volumes", s.listVolumes)
	s.handle("POST /volumes", s.createVolume)
	s.handle("GET /volumes/{id}", s.getVolume)
	s.handle("DELETE /volumes/{id}", s.deleteVolume)
	s.handle("POST /volumes/{id}/actions/detach", s.detachVolume)

	s.handle("GET /load_balancers", s.listLoadBalancers)
	s.handle("POST /load_balancers", s.createLoadBalancer)
	s.handle("GET /load_balancers/{id}", s.getLoadBalancer)
	s.handle("DELETE /load_balancers/{id}", s.deleteLoadBalancer)
}

// pathID parses the {id} path value.
func pathID(r *http.Request) (int64, *apiError) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalidInput("id", "must be a positive integer")
	}
	return id, nil
}

// decode reads a JSON request body.
func decode(r *http.Request, v any) *apiError {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errorf("json_error", "invalid JSON: %v", err)
	}
	return nil
}
