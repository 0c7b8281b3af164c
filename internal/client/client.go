// Package client talks to the control plane's HTTP API for the CLI.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"

	"github.com/prosperhq/prosper/internal/api"
)

// Client calls one control plane with one token.
type Client struct {
	URL   string
	Token string
	HTTP  *http.Client
}

// Error is a failed call, with what the server said to do about it.
type Error struct {
	Status int
	Msg    string
	Hint   string
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + "; " + e.Hint
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Do sends a request with an optional JSON body and decodes a JSON answer into out
// (when out is not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.Send(ctx, method, path, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read the answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Send sends a request and returns the response when its status is 2xx; any other
// status becomes an *Error.
func (c *Client) Send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &Error{Msg: "cannot reach prosper at " + c.URL, Hint: "is `prosper up` running? Point the CLI elsewhere with prosper login URL --token TOKEN or PROSPER_URL"}
		}
		return nil, fmt.Errorf("call prosper at %s: %w", c.URL, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e api.Error
	b, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(fmt.Sprintf("%s %s: %s %s", method, path, resp.Status, oneLine(b)))
	}
	return nil, &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
}

// Stream sends a request whose answer is a stream of api.Messages, calls line for
// each progress line, and returns the final result.
func (c *Client) Stream(ctx context.Context, method, path, contentType string, body io.Reader, line func(string)) (*api.Result, error) {
	resp, err := c.Send(ctx, method, path, contentType, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m api.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("prosper stopped answering before the operation ended: see prosper status")
			}
			return nil, fmt.Errorf("read progress: %w", err)
		}
		switch {
		case m.Error != nil:
			return nil, &Error{Msg: m.Error.Error, Hint: m.Error.Hint}
		case m.Result != nil:
			return m.Result, nil
		default:
			if line != nil {
				line(m.Line)
			}
		}
	}
}

// oneLine shortens an answer that is not the API's (a proxy's or another web
// server's page) to a line that fits an error message.
func oneLine(b []byte) string {
	const limit = 200
	s := strings.Join(strings.Fields(string(b)), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "..."
	}
	return s
}
