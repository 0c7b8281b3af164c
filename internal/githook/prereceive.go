// Package githook is the git side of a push: `prosper hook pre-receive`, which git
// receive-pack runs in the app's repository before it updates any ref.
//
// Running before the update is what makes a failed build reject the push: the deploy
// branch only ever points at code that built and became healthy. The hook sees the
// pushed objects in git's quarantine, so it packs the tree and the commit facts
// itself and hands them to the control plane.
package githook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/store"
)

// Env is what the control plane passes to the hook through git's environment.
type Env struct {
	URL          string // control plane base URL
	Token        string // hook token
	App          string
	DeployBranch string
}

const zeroSHA = "0000000000000000000000000000000000000000"

// maxCommits bounds the commits recorded for one pushed ref.
const maxCommits = 1000

// ErrRejected is returned when the push must be refused; the reason has been
// written for the pusher already.
var ErrRejected = errors.New("push rejected")

// PreReceive reads git's "old new ref" lines from stdin, records the pushed commits,
// and deploys the deploy branch, writing progress to out (git prefixes it with
// "remote:"). A non-nil error makes git refuse the whole push.
func PreReceive(ctx context.Context, env Env, stdin io.Reader, out io.Writer) error {
	if env.DeployBranch == "" {
		env.DeployBranch = "main"
	}
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		old, newSHA, ref := f[0], f[1], f[2]
		branch, ok := strings.CutPrefix(ref, "refs/heads/")
		if !ok || newSHA == zeroSHA {
			continue
		}
		deploy := branch == env.DeployBranch
		commits, err := pushedCommits(ctx, old, newSHA, deploy)
		if err != nil {
			return err
		}
		if err := post(ctx, env, "commits", "", "application/json",
			mustJSON(map[string]any{"branch": branch, "old": old, "new": newSHA, "commits": commits})); err != nil {
			return fmt.Errorf("record commits: %w", err)
		}
		if !deploy {
			fmt.Fprintf(out, "-----> prosper: stored branch %s (%d new commits); only %s deploys\n", branch, len(commits), env.DeployBranch)
			continue
		}
		if err := checkBranchUnmoved(ctx, ref, old); err != nil {
			fmt.Fprintf(out, "!      %v\n", err)
			return ErrRejected
		}
		if err := deployTree(ctx, env, branch, newSHA, out); err != nil {
			return err
		}
	}
	return sc.Err()
}

// checkBranchUnmoved refuses a push whose base is no longer the branch's tip: it
// waited behind another push that moved it, and git would refuse the ref update
// after the release had gone live.
func checkBranchUnmoved(ctx context.Context, ref, old string) error {
	cur, _ := exec.CommandContext(ctx, "git", "rev-parse", "--verify", "--quiet", ref).Output()
	have := strings.TrimSpace(string(cur))
	if old == zeroSHA && have == "" || have == old {
		return nil
	}
	return fmt.Errorf("%s moved to %.10s while this push waited for another one: run git pull, then push again", strings.TrimPrefix(ref, "refs/heads/"), have)
}

// pushedCommits lists the commits a ref update brings: for the deploy branch every
// commit between the old and the new tip (they all reach production with this
// release), for other branches those no ref had yet.
func pushedCommits(ctx context.Context, old, newSHA string, deploy bool) ([]store.Commit, error) {
	args := []string{"log", "-z", "--format=%H%x1f%an <%ae>%x1f%aI%x1f%cI%x1f%P%x1f%B", "-n", fmt.Sprint(maxCommits)}
	switch {
	case deploy && old != zeroSHA:
		args = append(args, old+".."+newSHA)
	case deploy:
		args = append(args, newSHA)
	default:
		args = append(args, newSHA, "--not", "--all")
	}
	raw, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("git log: %w", err)
	}
	var commits []store.Commit
	for _, rec := range bytes.Split(raw, []byte{0}) {
		f := strings.SplitN(string(rec), "\x1f", 6)
		if len(f) != 6 {
			continue
		}
		at, _ := time.Parse(time.RFC3339, f[2])
		ct, _ := time.Parse(time.RFC3339, f[3])
		commits = append(commits, store.Commit{SHA: strings.TrimSpace(f[0]), Author: f[1],
			AuthorTime: at.UTC(), CommitTime: ct.UTC(), Parents: strings.Fields(f[4]), Message: strings.TrimSpace(f[5])})
	}
	return commits, nil
}

// deployTree streams the tree of sha to the control plane and relays its progress.
func deployTree(ctx context.Context, env Env, branch, sha string, out io.Writer) error {
	// git archive writes into a pipe the request reads from; the control plane
	// answers (and starts printing progress) before the upload ends, so the
	// archive must not be waited for until the request has taken all of it.
	tree, treeW := io.Pipe()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "archive", "--format=tar.gz", sha)
	cmd.Stdout = treeW
	cmd.Stderr = &stderr
	go func() {
		err := cmd.Run()
		if err != nil {
			err = fmt.Errorf("git archive: %v: %s", err, stderr.String())
		}
		treeW.CloseWithError(err)
	}()
	defer tree.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		fmt.Sprintf("%s/internal/apps/%s/deploy?commit=%s&branch=%s", env.URL, env.App, sha, branch), tree)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+env.Token)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(out, "!      prosper: cannot reach the control plane: %v\n", err)
		return ErrRejected
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(out, "!      prosper: %s\n", answerError(resp))
		return ErrRejected
	}
	return Relay(resp.Body, out)
}

// Relay prints a stream of api.Messages and says how it ended: nil when the
// operation succeeded.
func Relay(r io.Reader, out io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m api.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				fmt.Fprintln(out, "!      prosper: the control plane stopped answering before the deploy ended")
				return ErrRejected
			}
			return fmt.Errorf("read the deploy's progress: %w", err)
		}
		switch {
		case m.Error != nil:
			fmt.Fprintf(out, "!      %s\n", m.Error.Error)
			if m.Error.Hint != "" {
				fmt.Fprintf(out, "!      %s\n", m.Error.Hint)
			}
			return ErrRejected
		case m.Result != nil:
			fmt.Fprintf(out, "=====> %s v%d is live: %s\n", m.Result.Release.App, m.Result.Release.Version, m.Result.URL)
			return nil
		default:
			fmt.Fprintln(out, m.Line)
		}
	}
}

func post(ctx context.Context, env Env, what, query, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.URL+"/internal/apps/"+env.App+"/"+what+query, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+env.Token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, answerError(resp))
	}
	return nil
}

// answerError tells, on one line, why the control plane refused a call: the
// API's error and hint, or the start of whatever else it answered.
func answerError(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.Error
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		if e.Hint != "" {
			return e.Error + "; " + e.Hint
		}
		return e.Error
	}
	text := []rune(strings.Join(strings.Fields(string(b)), " "))
	if len(text) > 200 {
		return string(text[:200]) + "..."
	}
	return string(text)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
