package appconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic or return an error without a
// position in the file. The malformed files of testdata seed it.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("verify:\n  gates: {p99: x1.3}\nbuild: &b make\nrun: *b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("prosper.yaml", data)
		if err == nil {
			return
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("error is %T: %v", err, err)
		}
	})
}
