package rollout

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

func newEvent(typ, app string, release int, data any) store.Event {
	e := store.Event{Type: typ, App: app, Release: release}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			e.Data = b
		}
	}
	return e
}

// replaceHost swaps the host of base for host, keeping scheme and port.
func replaceHost(base, host string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "http://" + host
	}
	if port := u.Port(); port != "" && port != "80" {
		u.Host = host + ":" + port
	} else {
		u.Host = host
	}
	return u.String()
}

// say writes one line of progress for the person waiting.
func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func now() time.Time { return time.Now().UTC() }

func ptr[T any](v T) *T { return &v }

func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}
