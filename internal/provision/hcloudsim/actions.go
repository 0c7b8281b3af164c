package hcloudsim

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// action is an asynchronous operation whose progress grows linearly over
// its duration, as the real API reports it while polling.
type action struct {
	schema.Action
	duration time.Duration
	// fail, when set, is the error the action ends with.
	fail *schema.ActionError
	// done runs under the lock when the action finishes, to apply its effect
	// (a server becomes running, a snapshot available).
	done func(success bool)
}

// startAction records a running action on the given resources.
func (st *state) startAction(command string, d time.Duration, resources ...schema.ActionResourceReference) *action {
	a := &action{
		Action: schema.Action{
			ID: st.newID(), Status: "running", Command: command, Started: time.Now().UTC(),
			Resources: append([]schema.ActionResourceReference{}, resources...),
		},
		duration: d,
	}
	st.actions[a.ID] = a
	return a
}

// advance moves every running action forward to now and finishes those
// whose time is up. It runs before every call so state is never stale.
func (st *state) advance(now time.Time) {
	ids := make([]int64, 0)
	for id, a := range st.actions {
		if a.Status == "running" {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		a := st.actions[id]
		elapsed := now.Sub(a.Started)
		if elapsed < a.duration {
			a.Progress = int(elapsed * 100 / a.duration)
			continue
		}
		finished := a.Started.Add(a.duration)
		a.Finished = &finished
		a.Progress = 100
		a.Status = "success"
		if a.fail != nil {
			a.Status = "error"
			a.Error = a.fail
		}
		if a.done != nil {
			a.done(a.fail == nil)
		}
	}
}

func ref(typ string, id int64) schema.ActionResourceReference {
	return schema.ActionResourceReference{ID: id, Type: typ}
}

// listActions answers GET /actions?id=..&id=.., the batched poll of
// hcloud-go's WaitFor. Unknown IDs are left out, as the real API does.
func (s *Sim) listActions(r *http.Request) (int, any, *apiError) {
	q := r.URL.Query()
	ids := q["id"]
	if len(ids) == 0 {
		return 0, nil, invalidInput("id", "at least one id is required")
	}
	var out []schema.Action
	for _, raw := range ids {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return 0, nil, invalidInput("id", "must be an integer")
		}
		if a, ok := s.state.actions[id]; ok && matchesStatus(q["status"], a.Status) {
			out = append(out, a.Action)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return page(r, "actions", out)
}

func matchesStatus(want []string, status string) bool {
	return len(want) == 0 || contains(want, status)
}

func (s *Sim) getAction(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	a, ok := s.state.actions[id]
	if !ok {
		return 0, nil, notFound("action", id)
	}
	return http.StatusOK, schema.ActionGetResponse{Action: a.Action}, nil
}
