package migrating_test

import (
	"testing"

	"github.com/containertest/containertest/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, "migrating") }
