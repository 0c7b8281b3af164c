package build

import "testing"

func TestIgnoreRules(t *testing.T) {
	rules, err := parseIgnore(`# build outputs
node_modules/
*.log
!keep.log
/data
docs/**/*.pdf
**/tmp
secret?.txt
`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"node_modules", true, true},
		{"web/node_modules", true, true},
		{"node_modules", false, false}, // a file of that name: the rule is for directories
		{"app.log", false, true},
		{"logs/deep/app.log", false, true},
		{"keep.log", false, false},
		{"data", true, true},
		{"sub/data", true, false}, // anchored at the root
		{"docs/a.pdf", false, true},
		{"docs/x/y/a.pdf", false, true},
		{"a.pdf", false, false},
		{"tmp", true, true},
		{"a/b/tmp", true, true},
		{"secret1.txt", false, true},
		{"secret10.txt", false, false},
		{"main.go", false, false},
	}
	for _, tt := range tests {
		if got := rules.ignored(tt.path, tt.isDir); got != tt.want {
			t.Errorf("ignored(%q, dir=%v) = %v, want %v", tt.path, tt.isDir, got, tt.want)
		}
	}
}

func TestIgnoreBadPattern(t *testing.T) {
	_, err := parseIgnore("ok\nbad[\n")
	if err == nil || err.Error() != `.prosperignore:2: "bad[" is not a valid pattern` {
		t.Errorf("err = %v", err)
	}
}
