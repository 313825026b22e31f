package docker_test

import (
	"testing"

	"github.com/containertest/containertest/internal/leakcheck"
)

// TestMain fails a run whose tests passed but left a labelled container, network or
// volume of this session, or a goroutine, behind: their own cleanup must remove it.
func TestMain(m *testing.M) { leakcheck.Main(m, "docker") }
