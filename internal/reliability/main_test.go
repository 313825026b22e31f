package reliability

import (
	"os"
	"testing"

	"github.com/containertest/containertest/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		// A child of a fault test: a resource whose removal failed while the engine was
		// cut is removed by the watchdog when the child ends, which the parent checks
		// (waitGone); leakcheck would report it before that.
		os.Exit(m.Run())
	}
	leakcheck.Main(m, "internal/reliability")
}
