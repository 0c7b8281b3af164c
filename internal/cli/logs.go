package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/client"
	"github.com/prosperhq/prosper/internal/runtime"
)

type logsCmd struct {
	follow      bool
	since       time.Duration
	release     string
	grep, level string
	out         output
}

func newLogsCmd(e *env) *cobra.Command {
	c := &logsCmd{}
	cmd := &cobra.Command{
		Use:   "logs APP",
		Short: "Show what an app's processes write to stdout and stderr",
		Example: `  prosper logs shop --since 10m
  prosper logs shop -f --grep checkout
  prosper logs shop --release v3 --level error -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.out.check(); err != nil {
				return err
			}
			q := url.Values{}
			if c.follow {
				q.Set("follow", "1")
			}
			if c.since > 0 {
				q.Set("since", c.since.String())
			}
			if c.release != "" {
				v, err := parseVersion(c.release)
				if err != nil {
					return err
				}
				q.Set("release", strconv.Itoa(v))
			}
			if c.grep != "" {
				q.Set("grep", c.grep)
			}
			if c.level != "" {
				q.Set("level", c.level)
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			resp, err := cl.Send(cmd.Context(), http.MethodGet, "/api/apps/"+args[0]+"/logs?"+q.Encode(), "", nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			dec := json.NewDecoder(resp.Body)
			for {
				// A failure after the stream started comes as a line of its own.
				var m struct {
					runtime.LogLine
					Error *api.Error `json:"error"`
				}
				if err := dec.Decode(&m); err != nil {
					if errors.Is(err, io.EOF) || cmd.Context().Err() != nil {
						return nil
					}
					return fmt.Errorf("read logs: %w", err)
				}
				if m.Error != nil {
					return &client.Error{Msg: m.Error.Error, Hint: m.Error.Hint}
				}
				l := m.LogLine
				if c.out.json() {
					if err := json.NewEncoder(e.stdout).Encode(l); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(e.stdout, "%s v%d/%d %s %s\n", l.Time.Local().Format("15:04:05.000"), l.Release, l.Replica, l.Stream, l.Text)
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&c.follow, "follow", "f", false, "keep printing new lines")
	f.DurationVar(&c.since, "since", 0, "only lines newer than this, e.g. 10m")
	f.StringVar(&c.release, "release", "", "only this release, e.g. v3")
	f.StringVar(&c.grep, "grep", "", "only lines containing this text")
	f.StringVar(&c.level, "level", "", "only lines of this level: debug, info, warn, error")
	c.out.bind(cmd)
	return cmd
}
