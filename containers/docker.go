package containers

import (
	"context"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/engine"
)

// ErrDockerUnavailable is wrapped by every error that means no Docker engine answered.
// The error's text lists every place that was tried and why each failed.
var ErrDockerUnavailable = engine.ErrUnavailable

// HasDocker reports whether a Docker engine answers. The first call connects; later
// calls are cheap.
func HasDocker() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := engine.Get(ctx)
	return err == nil
}

// RequireDocker skips the test when no Docker engine answers, or fails it when the
// environment variable CONTAINERTEST_REQUIRE_DOCKER=1 says an engine must be there (CI
// sets it, so that no test silently skips).
func RequireDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := engine.Get(ctx); err != nil {
		engine.FailOrSkip(t, "containers", err)
	}
}
