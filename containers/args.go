package containers

import (
	"context"
	"fmt"
	"slices"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
)

// CmdArgs appends args to the container's command instead of replacing it as Cmd does:
// to the image's CMD, or to Cmd's command when the spec has one (wherever Cmd comes in
// the chain; several CmdArgs append in order). For an image with CMD ["redis-server"],
// CmdArgs("--appendonly", "yes") runs "redis-server --appendonly yes". Without Cmd the
// image's CMD is read from the engine (the image pulled first when missing, as the pull
// policy allows) just before the container is created. As "docker run --entrypoint"
// does, a spec whose Entrypoint replaces the image's has no image CMD to append to: its
// command is then args alone. The image's ENTRYPOINT is kept.
func (s Spec) CmdArgs(args ...string) Spec {
	args = slices.Clone(args)
	return s.withPrepare(func(ctx context.Context, s Spec, eng *engine.Engine, cfg *container.Config, _ *container.HostConfig, _ *dnetwork.NetworkingConfig) error {
		if cfg.Cmd == nil && cfg.Entrypoint == nil {
			ic, err := imageConfig(ctx, s, eng, cfg.Image)
			if err != nil {
				return fmt.Errorf("cmd args %q: %w", args, err)
			}
			cfg.Cmd = slices.Clone(ic.Cmd)
		}
		cfg.Cmd = append(slices.Clip(cfg.Cmd), args...)
		return nil
	})
}

// EntrypointArgs appends args to the container's entrypoint instead of replacing it as
// Entrypoint does: to the image's ENTRYPOINT, or to Entrypoint's when the spec has one
// (wherever it comes in the chain; several EntrypointArgs append in order). The command
// still follows the entrypoint: the image's CMD is kept (unlike with Entrypoint, which
// drops it) unless Cmd replaces it. For an image with ENTRYPOINT ["docker-entrypoint.sh"]
// and CMD ["postgres"], EntrypointArgs("--debug") runs "docker-entrypoint.sh --debug
// postgres". The image's configuration is read from the engine just before the
// container is created (the image pulled first when missing, as the pull policy
// allows). An image without ENTRYPOINT makes args the entrypoint.
func (s Spec) EntrypointArgs(args ...string) Spec {
	args = slices.Clone(args)
	return s.withPrepare(func(ctx context.Context, s Spec, eng *engine.Engine, cfg *container.Config, _ *container.HostConfig, _ *dnetwork.NetworkingConfig) error {
		if cfg.Entrypoint == nil {
			ic, err := imageConfig(ctx, s, eng, cfg.Image)
			if err != nil {
				return fmt.Errorf("entrypoint args %q: %w", args, err)
			}
			cfg.Entrypoint = slices.Clone(ic.Entrypoint)
			if cfg.Cmd == nil {
				// The engine drops the image's CMD once the entrypoint is set.
				cfg.Cmd = slices.Clone(ic.Cmd)
				if cfg.Cmd == nil {
					cfg.Cmd = []string{}
				}
			}
		} else if len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "" {
			// Entrypoint() cleared the image's: args are the whole entrypoint.
			cfg.Entrypoint = nil
		}
		cfg.Entrypoint = append(slices.Clip(cfg.Entrypoint), args...)
		if len(cfg.Entrypoint) == 0 {
			cfg.Entrypoint = []string{""}
		}
		return nil
	})
}

// imageConfig returns the configuration of the image ref, pulling it first when it is
// missing and the spec's pull policy allows, or always with PullAlways.
func imageConfig(ctx context.Context, s Spec, eng *engine.Engine, ref string) (*container.Config, error) {
	res, err := localImage(ctx, eng, ref, s.pull, "")
	if err != nil {
		return nil, err
	}
	ic := &container.Config{}
	if res.Config != nil {
		ic.Cmd, ic.Entrypoint = res.Config.Cmd, res.Config.Entrypoint
	}
	return ic, nil
}
