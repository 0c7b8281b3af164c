// Command testapp is the app the node package's tests run: an HTTP server on
// $PORT whose health answer and shutdown behaviour the tests control.
//
//	GET /        "hello from $GREETING"
//	GET /healthz $HEALTH_STATUS (default 200), 503 while the file "unhealthy"
//	             exists in the working directory; each probe is logged
//	GET /env     the process environment as a JSON list
//
// With IGNORE_TERM=1 it ignores SIGTERM, to test the SIGKILL after the stop timeout.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if os.Getenv("IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	status := http.StatusOK
	if s := os.Getenv("HEALTH_STATUS"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", os.Getenv("GREETING"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		code := status
		if _, err := os.Stat("unhealthy"); err == nil {
			code = http.StatusServiceUnavailable
		}
		fmt.Printf("health check answered %d\n", code)
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(os.Environ())
	})
	fmt.Println("listening on port " + os.Getenv("PORT"))
	fmt.Fprintln(os.Stderr, "testapp started")
	err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux)
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
