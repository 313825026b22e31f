//go:build linux

package reaper

import (
	"os"
	"testing"

	"github.com/containertest/containertest/internal/leakcheck"
)

// TestMain fails a run whose tests passed but left a labelled container, network or
// volume of this session, or a goroutine, behind. A helper process (helperEnv) leaves
// its resources to its watchdog on purpose, so it is not checked.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run())
	}
	leakcheck.Main(m, "reaper")
}
