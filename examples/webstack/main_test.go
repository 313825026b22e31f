package webstack_test

import (
	"testing"

	"github.com/containertest/containertest/internal/leakcheck"
)

// TestMain fails a run whose tests passed but left a container, network or volume of
// this session, or a goroutine, behind: the project checks its own suites this way.
// A suite of yours can check for goroutines with goleak.VerifyTestMain (see the
// README).
func TestMain(m *testing.M) { leakcheck.Main(m, "webstack") }
