package reaper

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/engine"
)

// mustHaveEngine skips t when no engine answers, unless CONTAINERTEST_REQUIRE_DOCKER=1.
func mustHaveEngine(t testing.TB) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := engine.Get(ctx)
	if err != nil {
		if os.Getenv("CONTAINERTEST_REQUIRE_DOCKER") == "1" {
			t.Fatalf("reaper: %v", err)
		}
		t.Skipf("reaper: %v", err)
	}
	return e
}
