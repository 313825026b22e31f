package containers

import (
	"context"
	"errors"
	"testing"

	"github.com/containertest/containertest/internal/engine"
)

// buildSpec describes a Dockerfile build.
type buildSpec struct {
	contextDir string
}

func (b *buildSpec) image(ctx context.Context, eng *engine.Engine, t testing.TB) (string, error) {
	return "", errors.New("build: not wired yet")
}
