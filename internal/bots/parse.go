package bots

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/prosperhq/prosper/internal/yamlfile"
)

var scenarioKeys = []string{"name", "every", "cost_of_failure", "timeout", "steps"}

// Parse reads one bot scenario file. file names the file in errors and becomes
// Scenario.File; the bot's name defaults to file's base name without extension.
// Every error is an *Error.
func Parse(file string, data []byte) (Scenario, error) {
	d := &decoder{file: file, anchors: yamlfile.Anchors{}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return Scenario{}, syntaxError(d.file, data, err)
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			return Scenario{}, d.errAt(doc.Body, `the file holds more than one YAML document; write one bot per file (remove the "---")`)
		}
		body = doc.Body
	}
	if body == nil {
		return Scenario{}, &Error{File: file, Msg: `the file is empty; a bot needs steps, such as "steps: [{get: /}]"`}
	}
	p := &scenarioParser{d: d, saves: map[string][]savedAt{}}
	if err := p.scenario(body); err != nil {
		return Scenario{}, err
	}
	if err := p.checkVariables(); err != nil {
		return Scenario{}, err
	}
	return p.s, nil
}

// scenarioParser gathers, while reading a file, the variables steps use and save, so
// that a use can be checked against the saves of the steps before it.
type scenarioParser struct {
	d     *decoder
	s     Scenario
	uses  []varUse
	saves map[string][]savedAt
}

// varUse is a template {{name}} written in step index step, at node.
type varUse struct {
	name string
	node ast.Node
	step int
}

// savedAt is a step saving a variable.
type savedAt struct{ step, line int }

func (p *scenarioParser) scenario(body ast.Node) error {
	d := p.d
	entries, err := d.entries(body, "", "a mapping with name, every and steps")
	if err != nil {
		return err
	}
	base := filepath.Base(p.d.file)
	p.s = Scenario{
		Name:    strings.TrimSuffix(base, filepath.Ext(base)),
		File:    p.d.file,
		Every:   DefaultEvery,
		Timeout: DefaultTimeout,
	}
	var steps *ast.MappingValueNode
	for _, e := range entries {
		k, err := d.key(e)
		if err != nil {
			return err
		}
		switch k {
		case "name":
			s, err := d.required(e, k, "a name such as \"book a room\"")
			if err != nil {
				return err
			}
			if s = strings.TrimSpace(s); s == "" || strings.ContainsFunc(s, isControl) {
				return d.errAt(e.Value, "name: write a name on one line, such as \"book a room\"")
			}
			p.s.Name, p.s.nameLine = s, d.line(e.Key)
		case "every":
			if p.s.Every, err = p.duration(e, k, MinEvery, MaxEvery); err != nil {
				return err
			}
		case "timeout":
			if p.s.Timeout, err = p.duration(e, k, 1, MaxTimeout); err != nil {
				return err
			}
		case "cost_of_failure":
			s, err := d.required(e, k, "an amount and a currency, such as 40 EUR")
			if err != nil {
				return err
			}
			if p.s.Cost, err = parseCost(s); err != nil {
				return d.errAt(e.Value, "cost_of_failure: %v", err)
			}
		case "steps":
			steps = e
		default:
			return d.errAt(e.Key, "%s", yamlfile.UnknownKey("key", k, "", scenarioKeys))
		}
	}
	if steps == nil {
		return d.errAt(body, `no steps; a bot needs at least one request, such as "steps: [{get: /}]"`)
	}
	items, err := d.items(steps.Value, "steps", "a list of requests")
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return d.errAt(steps.Key, `steps: the list is empty; add a request such as "- get: /"`)
	}
	for i, item := range items {
		st, err := p.step(i, item)
		if err != nil {
			return err
		}
		p.s.Steps = append(p.s.Steps, st)
	}
	return nil
}

// duration reads a duration from lo to hi.
func (p *scenarioParser) duration(e *ast.MappingValueNode, name string, lo, hi time.Duration) (time.Duration, error) {
	s, err := p.d.required(e, name, "a duration such as 2s")
	if err != nil {
		return 0, err
	}
	v, err := parseDuration(s)
	if err != nil {
		return 0, p.d.errAt(e.Value, "%s: %v", name, err)
	}
	if v < lo || v > hi {
		return 0, p.d.errAt(e.Value, "%s: %s is out of range; use from %s to %s", name, s, shortDuration(lo), shortDuration(hi))
	}
	return v, nil
}

// shortDuration writes 1h rather than 1h0m0s, and 1ns as the "more than 0" it means.
func shortDuration(d time.Duration) string {
	if d <= 1 {
		return "1ms"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// templates records the variables a text of step uses, found at n.
func (p *scenarioParser) templates(s string, n ast.Node, step int) error {
	names, problem := templateNames(s)
	if problem != "" {
		return p.d.errAt(n, "%s", problem)
	}
	for _, name := range names {
		p.uses = append(p.uses, varUse{name, n, step})
	}
	return nil
}

// checkVariables checks that each variable used is built in or saved by an earlier
// step: anything else would be sent as a literal "{{id}}" and fail at run time.
func (p *scenarioParser) checkVariables() error {
	for _, u := range p.uses {
		if slices.Contains(builtins, u.name) {
			continue
		}
		known := slices.Clone(builtins)
		var later *savedAt
		for name, saves := range p.saves {
			for _, sv := range saves {
				if sv.step < u.step {
					known = append(known, name)
				} else if name == u.name && later == nil {
					later = &sv
				}
			}
		}
		if slices.Contains(known, u.name) {
			continue
		}
		if later != nil && later.step == u.step {
			return p.d.errAt(u.node, "{{%s}} is saved by this same step, from its answer, so it has no value yet when the request is sent; use it in a later step", u.name)
		}
		if later != nil {
			return p.d.errAt(u.node, "{{%s}} is saved by step %d (line %d), which runs after this one; a step can use only what earlier steps saved",
				u.name, later.step+1, later.line)
		}
		msg := fmt.Sprintf("unknown variable {{%s}}", u.name)
		if c := yamlfile.Closest(u.name, known); c != "" {
			return p.d.errAt(u.node, "%s (did you mean {{%s}}?)", msg, c)
		}
		slices.Sort(known)
		known = slices.Compact(known)
		return p.d.errAt(u.node, "%s; save it in an earlier step (save: {%s: $.%s}) or use one of %s",
			msg, u.name, u.name, "{{"+strings.Join(known, "}}, {{")+"}}")
	}
	return nil
}

var costPattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]{3})$`)

// parseCost reads "40 EUR": an amount, then a 3-letter currency code.
func parseCost(s string) (Cost, error) {
	s = strings.TrimSpace(s)
	if m := costPattern.FindStringSubmatch(s); m != nil {
		amount, err := strconv.ParseFloat(m[1], 64)
		if err == nil {
			return Cost{Amount: amount, Currency: strings.ToUpper(m[2])}, nil
		}
	}
	if plainNumber.MatchString(s) {
		return Cost{}, fmt.Errorf("%q has no currency; write it like %s EUR", s, s)
	}
	if f := strings.Fields(s); len(f) == 2 && plainNumber.MatchString(f[1]) {
		return Cost{}, fmt.Errorf("%q: write the amount first, like %s %s", s, f[1], f[0])
	}
	return Cost{}, fmt.Errorf("%q is not a cost; write an amount and a 3-letter currency code, like 40 EUR", s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// syntaxError is yamlfile.SyntaxError with the mistake bot files invite: a JSON
// path such as $.items[0].id unquoted inside a {...} mapping, whose brackets the
// parser reads as YAML.
func syntaxError(file string, data []byte, err error) error {
	e := yamlfile.SyntaxError(file, data, err)
	lines := strings.Split(string(data), "\n")
	if strings.HasSuffix(e.Msg, "found an invalid key for this map") && e.Line >= 1 && e.Line <= len(lines) &&
		strings.Contains(lines[e.Line-1], "{") {
		e.Msg = `this {...} mapping does not close; quote keys and values that hold [ ] { } or a comma, such as "$.items[0].id"`
	}
	return e
}
