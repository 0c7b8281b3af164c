package hcloudsim

import (
	"net/http"
	"sort"
	"strconv"
)

// pagination is the real API's meta.pagination, where previous_page and
// next_page are null at the ends.
type pagination struct {
	Page         int  `json:"page"`
	PerPage      int  `json:"per_page"`
	PreviousPage *int `json:"previous_page"`
	NextPage     *int `json:"next_page"`
	LastPage     int  `json:"last_page"`
	TotalEntries int  `json:"total_entries"`
}

// page cuts one page out of items per the page and per_page parameters
// (default 1 and 25, per_page at most 50) and wraps it under key with the
// pagination meta.
func page[T any](r *http.Request, key string, items []T) (int, any, *apiError) {
	q := r.URL.Query()
	p, perPage := 1, 25
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, invalidInput("page", "must be a positive integer")
		}
		p = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, invalidInput("per_page", "must be a positive integer")
		}
		perPage = min(n, 50)
	}
	last := max(1, (len(items)+perPage-1)/perPage)
	meta := pagination{Page: p, PerPage: perPage, LastPage: last, TotalEntries: len(items)}
	if p > 1 {
		prev := min(p-1, last)
		meta.PreviousPage = &prev
	}
	if p < last {
		next := p + 1
		meta.NextPage = &next
	}
	start := min((p-1)*perPage, len(items))
	end := min(start+perPage, len(items))
	pageItems := append([]T{}, items[start:end]...)
	return http.StatusOK, map[string]any{key: pageItems, "meta": map[string]any{"pagination": meta}}, nil
}

// filter returns the values of m that pass the request's label_selector
// and name filters, sorted by ID. labels and name read a value's fields.
func filter[T any](r *http.Request, m map[int64]*T, id func(*T) int64, labels func(*T) map[string]string, name func(*T) string) ([]T, *apiError) {
	q := r.URL.Query()
	sel, err := parseSelector(q.Get("label_selector"))
	if err != nil {
		return nil, invalidInput("label_selector", err.Error())
	}
	wantName, byName := q.Get("name"), q.Has("name")
	var out []T
	for _, v := range m {
		if !sel.matches(labels(v)) {
			continue
		}
		if byName && (name == nil || name(v) != wantName) {
			continue
		}
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return id(&out[i]) < id(&out[j]) })
	return out, nil
}
