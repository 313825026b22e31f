package containers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/mount"
	"github.com/containertest/containertest/internal/eventhub"
)

// DefaultStopTimeout is how long a graceful stop waits for the process to exit before
// it is killed, where nothing else says: the engine's own default.
const DefaultStopTimeout = 10 * time.Second

// stopOptions turns a stop timeout into the engine's options. Zero means no grace: the
// stop signal, then SIGKILL at once (as "docker stop -t 0"). A timeout is rounded up to
// whole seconds, the engine's unit.
func stopOptions(timeout time.Duration) (container.StopOptions, error) {
	if timeout < 0 {
		return container.StopOptions{}, fmt.Errorf("stop timeout %v: negative (0 kills at once; DefaultStopTimeout is the engine's default)", timeout)
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	return container.StopOptions{Timeout: &secs}, nil
}

// teardownGrace is how long teardown lets the container's process stop after the stop
// signal: what the spec said (GracefulStop, KillOnTeardown), else DefaultStopTimeout
// when the container writes to storage that outlives it, else 0 (killed at once).
func (c *Container) teardownGrace() time.Duration {
	if c.spec.graceful != nil {
		return *c.spec.graceful
	}
	if c.persistent {
		return DefaultStopTimeout
	}
	return 0
}

// stopForTeardown gives the container's process its grace before the forced remove.
// Its errors do not matter: the remove that follows kills whatever still runs.
func (c *Container) stopForTeardown(ctx context.Context) {
	grace := c.teardownGrace()
	if grace <= 0 {
		return
	}
	opts, err := stopOptions(grace)
	if err != nil {
		return
	}
	// The engine kills after the grace; bound the call too, should the engine hang.
	sctx, cancel := context.WithTimeout(ctx, grace+30*time.Second)
	defer cancel()
	_ = c.eng.Client.ContainerStop(sctx, c.id, opts)
}

// writesPersistentStorage reports whether the container mounts, writable, storage whose
// data outlives the container: a named volume or a bind mount (in Mounts, or in Binds
// that a Modify function set). Anonymous volumes and tmpfs go with the container.
func writesPersistentStorage(hc *container.HostConfig) bool {
	if hc == nil {
		return false
	}
	for _, m := range hc.Mounts {
		if m.ReadOnly {
			continue
		}
		switch m.Type {
		case mount.TypeBind:
			return true
		case mount.TypeVolume:
			if m.Source != "" {
				return true
			}
		}
	}
	for _, b := range hc.Binds {
		// source:target[:options]; a bind of a volume name or a host path.
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			continue
		}
		ro := false
		if len(parts) > 2 {
			for _, o := range strings.Split(parts[len(parts)-1], ",") {
				ro = ro || o == "ro"
			}
		}
		if !ro {
			return true
		}
	}
	return false
}

// Terminate removes the container now, with its anonymous volumes, as teardown does:
// stopped gracefully when it writes to a named volume or bind mount or the spec says so
// (see Spec.GracefulStop), else killed at once. Calling it again is harmless.
func (c *Container) Terminate(ctx context.Context) error {
	if c.removeNow != nil {
		return c.removeNow(ctx)
	}
	return c.remove(ctx)
}

// remove runs the terminate hooks around removeContainer.
func (c *Container) remove(ctx context.Context) error {
	return c.terminateHooks(ctx, c.removeContainer)
}

// removeContainer stops the container (see teardownGrace), then kills and removes it
// with its anonymous volumes in one call.
func (c *Container) removeContainer(ctx context.Context) error {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.stopHealth(true)
	c.stopForTeardown(ctx)
	c.drainLogs(ctx)
	err := c.eng.Client.ContainerRemove(ctx, c.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
		return c.wrap("remove", err)
	}
	eventhub.Default.Unsubscribe(c.id)
	c.mu.Lock()
	c.gone = true
	c.mu.Unlock()
	return nil
}
