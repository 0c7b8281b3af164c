package dora

import (
	"crypto/sha1"
	"encoding/hex"
)

// node flags.
const (
	known  uint8 = 1 << iota // the ledger saw this commit (not only a reference to it)
	live                     // a promotion of the app brought it live
	wanted                   // a walk reached it while it was unknown
)

// node is one commit in an app's graph, kept small (24 bytes) because a year of
// history is millions of them.
type node struct {
	at     int64 // author time, Unix nanoseconds
	p0, p1 int32 // first two parents, -1 for none
	flags  uint8
}

// graph is an app's commit graph. Commits are keyed by the 20 bytes of their
// hex id rather than the 40-character string, which halves the index.
type graph struct {
	index map[[20]byte]int32
	nodes []node
	extra map[int32][]int32 // parents beyond the second (octopus merges)
}

// shaKey turns a commit id into a map key: the bytes of a SHA-1 hex id, or the
// SHA-1 of anything else (SHA-256 ids, hand-made names in tests).
func shaKey(sha string) [20]byte {
	var k [20]byte
	if len(sha) == 40 {
		if _, err := hex.Decode(k[:], []byte(sha)); err == nil {
			return k
		}
	}
	return sha1.Sum([]byte(sha))
}

// id returns the node of sha, adding an unknown placeholder the first time it is
// referenced so that parents can be linked before the parent itself arrives.
func (g *graph) id(sha string) int32 {
	if g.index == nil {
		g.index = make(map[[20]byte]int32)
	}
	k := shaKey(sha)
	if i, ok := g.index[k]; ok {
		return i
	}
	i := int32(len(g.nodes))
	g.nodes = append(g.nodes, node{p0: -1, p1: -1})
	g.index[k] = i
	return i
}

// add records a commit. It reports whether an earlier walk had stopped at this
// commit because it was unknown: the lead times already computed are then
// incomplete and must be computed again.
func (g *graph) add(c Commit) (stale bool) {
	i := g.id(c.SHA)
	if g.nodes[i].flags&known != 0 {
		return false // first record wins: adding commits is idempotent
	}
	ps := make([]int32, 0, 2)
	for _, p := range c.Parents {
		if p != "" {
			ps = append(ps, g.id(p))
		}
	}
	n := &g.nodes[i]
	n.at = c.AuthorTime.UnixNano()
	n.flags |= known
	if len(ps) > 0 {
		n.p0 = ps[0]
	}
	if len(ps) > 1 {
		n.p1 = ps[1]
	}
	if len(ps) > 2 {
		if g.extra == nil {
			g.extra = make(map[int32][]int32)
		}
		g.extra[i] = ps[2:]
	}
	return n.flags&wanted != 0
}

// clearLive forgets which commits are live, before the lead times are computed
// again from the first promotion.
func (g *graph) clearLive() {
	for i := range g.nodes {
		g.nodes[i].flags &^= live
	}
}

// bringLive marks live every commit reachable from start that was not live yet
// and calls sample with each one's author time. stack is scratch space, returned
// for reuse. Unknown commits end the walk on that path and are flagged wanted.
func (g *graph) bringLive(start int32, stack []int32, sample func(at int64)) []int32 {
	stack = append(stack[:0], start)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := &g.nodes[i]
		if n.flags&known == 0 {
			n.flags |= wanted
			continue
		}
		if n.flags&live != 0 {
			continue
		}
		n.flags |= live
		sample(n.at)
		for _, p := range [2]int32{n.p0, n.p1} {
			if p >= 0 && g.nodes[p].flags&live == 0 {
				stack = append(stack, p)
			}
		}
		for _, p := range g.extra[i] {
			if g.nodes[p].flags&live == 0 {
				stack = append(stack, p)
			}
		}
	}
	return stack
}
