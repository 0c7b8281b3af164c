package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// Search limits: how many lines a search returns unless told, and at most.
const (
	DefaultLogLimit = 1000
	MaxLogLimit     = 100_000
)

// searchSegment is how much of a file one search worker takes at a time. Small
// enough that the newest segment answers a common term at once, large enough
// that reads stay cheap.
const searchSegment = 4 << 20

// LogSearch asks for the newest lines of an app that match, newest first.
type LogSearch struct {
	App     string        `json:"app"`
	Release int           `json:"release,omitempty"` // 0 means every release
	Since   time.Duration `json:"since,omitempty"`   // 0 means every stored line
	Grep    string        `json:"grep,omitempty"`    // text the line contains, ASCII case ignored
	Level   string        `json:"level,omitempty"`   // this level or worse
	Limit   int           `json:"limit,omitempty"`   // 0 means DefaultLogLimit

	// replica, when byReplica, keeps one replica's lines (for crash reports).
	replica   int
	byReplica bool
}

// Search returns the newest lines of q.App matching q, newest first. The app's
// files are cut into segments searched in parallel from the newest; a segment
// first picks candidate lines from the raw bytes (the search text, the release,
// the stored level) and decodes only those it needs, newest first, so a rare
// term costs a pass over the bytes and a common one stops at the limit.
func (s *logStore) Search(ctx context.Context, q LogSearch) ([]runtime.LogLine, error) {
	if err := validName(q.App); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = DefaultLogLimit
	}
	q.Limit = min(q.Limit, MaxLogLimit)
	if q.Level != "" {
		lv, ok := ParseLevel(q.Level)
		if !ok {
			return nil, badRequest{fmt.Errorf("level %q is not known: use debug, info, warn or error", q.Level)}
		}
		q.Level = lv
	}
	m := newLineMatcher(q, s.clock())
	files, err := s.openForSearch(q.App, m.from)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.f.Close()
		}
	}()
	var units []segment
	for _, f := range files {
		for end := f.size; end > 0; end -= s.segment {
			units = append(units, segment{f: f.f, from: max(0, end-s.segment), to: end, size: f.size})
		}
	}

	var (
		mu      sync.Mutex
		next    int
		end     = len(units) // segments past it have nothing to give
		stop    bool
		results = make([][]runtime.LogLine, len(units))
		done    = make([]bool, len(units))
		errs    []error
		wg      sync.WaitGroup
	)
	for range min(goruntime.GOMAXPROCS(0), len(units)) {
		wg.Go(func() {
			for {
				mu.Lock()
				if stop || next >= end || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()

				lines, old, err := units[i].search(m, q.Limit)
				mu.Lock()
				results[i], done[i] = lines, true
				if err != nil {
					errs = append(errs, err)
					stop = true
				}
				// Older segments are not needed once the newer ones, all done,
				// hold the limit, or reached lines older than "since".
				n := 0
				for j := 0; j < end && done[j]; j++ {
					n += len(results[j])
					if n >= q.Limit || (old && j == i) {
						stop = true
						break
					}
				}
				if old {
					// Segments older than this one have nothing to give.
					end = min(end, i+1)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []runtime.LogLine{}
	for _, r := range results {
		for _, l := range r {
			if len(out) == q.Limit {
				return out, nil
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// searchFile is one of an app's files opened for a search, with its size then.
type searchFile struct {
	f    *os.File
	size int64
}

// openForSearch opens the app's files, newest first, under the lock rotation
// takes, so the set is consistent and APP.log's size ends at a line's end. A
// rotated file last written before notBefore is left out, and so are older ones.
func (s *logStore) openForSearch(app string, notBefore time.Time) ([]searchFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []searchFile
	for i := 0; i <= s.keep; i++ {
		f, err := os.Open(s.path(app, i))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			for _, o := range out {
				o.f.Close()
			}
			return nil, fmt.Errorf("open log of %s: %w", app, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			continue
		}
		if i > 0 && !notBefore.IsZero() && fi.ModTime().Before(notBefore) {
			f.Close()
			break
		}
		out = append(out, searchFile{f: f, size: fi.Size()})
	}
	return out, nil
}

// lineMatcher holds a search's filters, in raw-byte form and decoded form.
type lineMatcher struct {
	q       LogSearch
	from    time.Time
	needle  []byte // lowered search text
	rawGrep bool   // the needle can be looked for in the stored bytes
	release []byte // `"release":N,` when filtering by release
	replica []byte
}

func newLineMatcher(q LogSearch, now time.Time) *lineMatcher {
	m := &lineMatcher{q: q, needle: []byte(lowerASCII(q.Grep)), rawGrep: q.Grep != "" && rawSafe(q.Grep)}
	if q.Since > 0 {
		m.from = now.Add(-q.Since)
	}
	if q.Release != 0 {
		m.release = []byte(`"release":` + strconv.Itoa(q.Release) + `,`)
	}
	if q.byReplica {
		m.replica = []byte(`"replica":` + strconv.Itoa(q.replica) + `,`)
	}
	return m
}

// rawMatch rejects a stored record that cannot match without decoding it; the
// search text has been checked already when rawGrep.
func (m *lineMatcher) rawMatch(rec []byte) bool {
	if m.release != nil && !bytes.Contains(rec, m.release) {
		return false
	}
	if m.replica != nil && !bytes.Contains(rec, m.replica) {
		return false
	}
	if m.q.Level != "" {
		if lv := storedLevel(rec); lv != "" && !LevelAtLeast(lv, m.q.Level) {
			return false
		}
	}
	return true
}

// match decodes a candidate record and checks it whole. old is true when the
// line is older than the search's "since".
func (m *lineMatcher) match(rec []byte) (l runtime.LogLine, ok, old bool) {
	if json.Unmarshal(rec, &l) != nil {
		return l, false, false
	}
	if !m.from.IsZero() && l.Time.Before(m.from) {
		return l, false, true
	}
	if m.q.Release != 0 && l.Release != m.q.Release ||
		m.q.byReplica && l.Replica != m.q.replica ||
		m.q.Grep != "" && indexFold([]byte(l.Text), m.needle) < 0 {
		return l, false, false
	}
	enrichLine(&l)
	if m.q.Level != "" && !LevelAtLeast(l.Level, m.q.Level) {
		return l, false, false
	}
	return l, true, false
}

// segment is the part of a file a search worker takes: the lines that start in
// [from, to).
type segment struct {
	f              *os.File
	from, to, size int64
}

// search returns the segment's matching lines, newest first and at most limit,
// and whether it reached a line older than the search's "since".
func (sg segment) search(m *lineMatcher, limit int) ([]runtime.LogLine, bool, error) {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	data, err := sg.read(buf)
	if err != nil {
		return nil, false, err
	}
	// data starts one byte before the segment (to tell whether its first line
	// starts there) and goes on to the end of the line that crosses its end.
	start := 0
	if sg.from > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, false, nil
		}
		start = i + 1
	}
	limitAt := int(sg.to - sg.from)
	if sg.from > 0 {
		limitAt++
	}
	type span struct{ a, b int }
	var cands []span
	add := func(a, b int) {
		if m.rawMatch(data[a:b]) {
			cands = append(cands, span{a, b})
		}
	}
	if m.rawGrep {
		ff := newFoldFinderFor(m.needle, data[:min(len(data), 64<<10)])
		for pos := start; pos < limitAt; {
			hit := ff.index(data, pos)
			if hit < 0 {
				break
			}
			a := bytes.LastIndexByte(data[start:hit], '\n') + 1 + start
			if a >= limitAt {
				break
			}
			e := bytes.IndexByte(data[hit:], '\n')
			if e < 0 {
				break // a partial last line: not written whole yet
			}
			add(a, hit+e)
			pos = hit + e + 1
		}
	} else {
		for a := start; a < limitAt; {
			e := bytes.IndexByte(data[a:], '\n')
			if e < 0 {
				break
			}
			add(a, a+e)
			a += e + 1
		}
	}
	var out []runtime.LogLine
	for i := len(cands) - 1; i >= 0 && len(out) < limit; i-- {
		l, ok, old := m.match(data[cands[i].a:cands[i].b])
		if old {
			return out, true, nil
		}
		if ok {
			out = append(out, l)
		}
	}
	return out, false, nil
}

// bufPool holds segment buffers, so that searches do not allocate and clear
// megabytes each.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// read reads the segment, from one byte before it to the end of the line that
// crosses its end, into *buf.
func (sg segment) read(buf *[]byte) ([]byte, error) {
	at := max(0, sg.from-1)
	n := int(sg.to - at)
	if cap(*buf) < n {
		*buf = make([]byte, n, n+(64<<10))
	}
	data := (*buf)[:n]
	if _, err := sg.f.ReadAt(data, at); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read log: %w", err)
	}
	var more [4 << 10]byte
	for end := sg.to; end < sg.size && !bytes.HasSuffix(data, []byte("\n")); {
		k, err := sg.f.ReadAt(more[:min(int64(len(more)), sg.size-end)], end)
		if i := bytes.IndexByte(more[:k], '\n'); i >= 0 {
			data = append(data, more[:i+1]...)
			break
		}
		data = append(data, more[:k]...)
		end += int64(k)
		if k == 0 || err != nil && !errors.Is(err, io.EOF) {
			break
		}
	}
	*buf = data[:0]
	return data, nil
}
