package store

import (
	"os"
	"testing"

	"github.com/prosperhq/prosper/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}
