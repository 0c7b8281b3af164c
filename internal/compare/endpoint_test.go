package compare

import "testing"

func TestEndpoint(t *testing.T) {
	tests := []struct {
		method, target, want string
	}{
		{"GET", "/api/notes/123", "GET /api/notes/{id}"},
		{"get", "/api/notes/9f1c2b3a4d5e6f70?x=1", "GET /api/notes/{id}"},
		{"GET", "/api/notes/0b6c2f1e-8a4d-4c1e-9f3a-2d7e5b8c9a10/tags", "GET /api/notes/{id}/tags"},
		{"DELETE", "/users/42/notes/7", "DELETE /users/{id}/notes/{id}"},
		{"GET", "/objects/01HX7ZQ4K8M3N2P5R6S7T8V9W0", "GET /objects/{id}"},
		{"GET", "/notes/note_01HX7ZQ4K8", "GET /notes/{id}"},
		{"GET", "/invoices/inv-000123", "GET /invoices/{id}"},
		{"GET", "/api/v2/page-2", "GET /api/v2/page-2"},
		{"GET", "/api/notes", "GET /api/notes"},
		{"GET", "/about-us/deadbeef", "GET /about-us/deadbeef"},
		{"GET", "/blog/2024-01-15", "GET /blog/2024-01-15"},
		{"GET", "/healthz#frag", "GET /healthz"},
		{"GET", "", "GET /"},
		{"GET", "?q=1", "GET /"},
		{"POST", "http://127.0.0.1:8080/api/notes/5?x", "POST /api/notes/{id}"},
		{"GET", "http://example.com", "GET /"},
	}
	for _, tt := range tests {
		if got := Endpoint(tt.method, tt.target); got != tt.want {
			t.Errorf("Endpoint(%q, %q) = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}
