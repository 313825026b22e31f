package containers

import (
	"context"
	"slices"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
)

// prepareFunc completes the engine's configuration of a container just before it is
// created, with what only the engine can tell (the image's configuration, a network's
// gateway). It runs after Modify's functions.
type prepareFunc func(ctx context.Context, s Spec, eng *engine.Engine, cfg *container.Config, hc *container.HostConfig, nc *dnetwork.NetworkingConfig) error

func (s Spec) withPrepare(f prepareFunc) Spec {
	s.prepare = append(slices.Clip(s.prepare), f)
	return s
}

// runPrepare runs the spec's prepare functions in order.
func (s Spec) runPrepare(ctx context.Context, eng *engine.Engine, cfg *container.Config, hc *container.HostConfig, nc *dnetwork.NetworkingConfig) error {
	for _, f := range s.prepare {
		if err := f(ctx, s, eng, cfg, hc, nc); err != nil {
			return err
		}
	}
	return nil
}
