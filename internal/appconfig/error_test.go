package appconfig

import "testing"

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "prosper.yaml", Line: 3, Column: 1, Msg: "bad"}, "prosper.yaml:3:1: bad"},
		{Error{File: "prosper.yaml", Line: 3, Msg: "bad"}, "prosper.yaml:3: bad"},
		{Error{File: "prosper.yml", Msg: "rename it"}, "prosper.yml: rename it"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
