package main

import (
	"encoding/json"
	"fmt"
	"slices"
)

type release struct {
	Version int                `json:"version"`
	Status  string             `json:"status"`
	Phases  map[string]float64 `json:"phases"`
}

// verification is the part of a verification report the bench reads.
type verification struct {
	State          string  `json:"state"`
	Candidate      int     `json:"candidate"`
	WindowSeconds  float64 `json:"window_seconds"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Differences    struct {
		Total     int `json:"total"`
		Differing int `json:"differing"`
		Endpoints []struct {
			Endpoint  string `json:"endpoint"`
			Total     int    `json:"total"`
			Differing int    `json:"differing"`
			Ignored   int    `json:"ignored"`
		} `json:"endpoints"`
		// Expected are the endpoints declared as changed on purpose.
		Expected []string `json:"expected"`
	} `json:"differences"`
	Figures struct {
		Bots []struct {
			CandidateRuns  int `json:"candidate_runs"`
			CandidateFails int `json:"candidate_failures"`
		} `json:"bots"`
	} `json:"figures"`
}

// readRecords fills s from the release record of version and its
// verification report.
func readRecords(p *platform, version int, s *sample) error {
	out, err := p.cli("releases", app, "-o", "json")
	if err != nil {
		return err
	}
	var rels []release
	if err := json.Unmarshal(out, &rels); err != nil {
		return fmt.Errorf("read releases: %w", err)
	}
	for _, r := range rels {
		if r.Version == version {
			s.phases = r.Phases
		}
	}
	if s.phases == nil {
		return fmt.Errorf("no release record of v%d", version)
	}
	var v verification
	if err := p.getJSON("/api/apps/"+app+"/verify", &v); err != nil {
		return err
	}
	if v.Candidate != version || v.State != "promoted" {
		return fmt.Errorf("the verification report is of v%d (%s), want v%d promoted", v.Candidate, v.State, version)
	}
	s.window, s.elapsed = v.WindowSeconds, v.ElapsedSeconds
	s.compared, s.differ = v.Differences.Total, v.Differences.Differing
	s.unexpected, s.ignored = v.unexpected()
	for _, b := range v.Figures.Bots {
		s.botRuns += b.CandidateRuns
		s.botFails += b.CandidateFails
	}
	return nil
}

// unexpected counts the differing answers of the endpoints not declared as
// changed on purpose, and the differences dropped as noise.
func (v verification) unexpected() (differing, ignored int) {
	for _, e := range v.Differences.Endpoints {
		ignored += e.Ignored
		if !slices.Contains(v.Differences.Expected, e.Endpoint) {
			differing += e.Differing
		}
	}
	return differing, ignored
}
