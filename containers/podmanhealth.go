package containers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
)

// Podman differs from Docker in how a container's health check is run and reported:
//
//   - Podman 4 runs health checks from systemd timers. Where it has no systemd (its
//     cgroup manager is cgroupfs, as in a CI container), no check ever runs and the
//     container stays "starting" for ever. The framework then runs the checks itself,
//     at the container's interval, through podman's own API (GET
//     /libpod/containers/ID/healthcheck, which is what `podman healthcheck run` does):
//     podman records each probe, so Inspect, HealthLog and wait.ForHealthy all see the
//     engine's own state.
//   - Its Docker-compatible image inspect leaves out the image's HEALTHCHECK; its own
//     API has it. The framework reads it there, so that an image's check without an
//     interval gets the test default (see Spec.HealthCheck) on podman too.
//   - Its health_status events carry no status ("health_status", not
//     "health_status: healthy"). The framework asks the engine for the status instead.
//
//   - It reports no out-of-memory kill: OOMKilled stays false and no oom event comes.
//     An exit by SIGKILL of a container with a memory limit is then reported as
//     "out of memory, or killed" when no oom event follows it.
//
// A Docker engine needs none of this, and no goroutine is started for it.

// healthMode is what a container's health supervisor does on an engine.
type healthMode int

const (
	healthNone   healthMode = iota // Docker: its events say everything
	healthFollow                   // podman running its own checks: read the status on each event
	healthDrive                    // podman without systemd: run the checks, then read the status
)

// healthModes caches the health mode of each engine: one question per engine.
var healthModes sync.Map // *engine.Engine -> func() healthMode

// healthModeOf asks eng, once, whether it is podman and whether it runs health checks
// itself.
func healthModeOf(ctx context.Context, eng *engine.Engine) healthMode {
	f, _ := healthModes.LoadOrStore(eng, sync.OnceValue(func() healthMode {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		fs, err := getFacts(ctx, eng)
		if err != nil || !fs.podman {
			return healthNone
		}
		info, err := eng.Client.Info(ctx)
		if err == nil && podmanRunsHealthChecks(info.CgroupDriver) {
			return healthFollow
		}
		return healthDrive
	}))
	return f.(func() healthMode)()
}

// podmanRunsHealthChecks reports whether a podman engine with this cgroup manager runs
// health checks itself: only with systemd, whose timers run them.
func podmanRunsHealthChecks(cgroupDriver string) bool {
	return strings.EqualFold(cgroupDriver, "systemd")
}

// healthSupervisor is a container's health goroutine on podman.
type healthSupervisor struct {
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{} // a status-less health_status event arrived (capacity 1)
}

// superviseHealth starts the container's health supervisor when the engine needs one
// and it has none yet (a restart keeps the one it has). hc is the container's health
// check as the engine reports it.
func (c *Container) superviseHealth(ctx context.Context, hc *container.HealthConfig) {
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return
	}
	c.mu.Lock()
	running := c.health != nil || c.gone || c.noHealth
	c.mu.Unlock()
	if running {
		return
	}
	mode := healthModeOf(ctx, c.eng)
	if mode == healthNone {
		return
	}
	sctx, cancel := context.WithCancel(context.Background())
	h := &healthSupervisor{cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.health != nil || c.gone || c.noHealth {
		c.mu.Unlock()
		cancel()
		return
	}
	c.health = h
	c.mu.Unlock()
	go func() {
		defer close(h.done)
		c.runHealth(sctx, mode, *hc, h.kick)
	}()
}

// stopHealth ends the container's health supervisor, if any, and waits for it. With
// forGood (the container is being removed) none starts again, even from a start that
// races the removal.
func (c *Container) stopHealth(forGood bool) {
	c.mu.Lock()
	h := c.health
	c.health = nil
	c.noHealth = c.noHealth || forGood
	c.mu.Unlock()
	if h != nil {
		h.cancel()
		<-h.done
	}
}

// kickHealthLocked tells the supervisor that a status-less health_status event
// arrived; c.mu is held.
func (c *Container) kickHealthLocked() {
	if c.health == nil {
		return
	}
	select {
	case c.health.kick <- struct{}{}:
	default:
	}
}

// runHealth is the supervisor's loop: in healthDrive mode a probe every interval while
// the container runs; in both modes a status read after each status-less event.
func (c *Container) runHealth(ctx context.Context, mode healthMode, hc container.HealthConfig, kick <-chan struct{}) {
	interval := hc.Interval
	if interval <= 0 {
		interval = 30 * time.Second // the engines' default
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var tick <-chan time.Time
	if mode == healthDrive {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
			if mode == healthFollow {
				c.readHealth(ctx)
			}
		case <-tick:
			if !c.state().Running {
				continue
			}
			if !c.probeHealth(ctx, timeout) {
				return
			}
		}
	}
}

// probeHealth runs one probe through podman's API and records the status it leads to.
// It returns false when the container is gone.
func (c *Container) probeHealth(ctx context.Context, timeout time.Duration) bool {
	pctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var r struct{ Status string }
	err := c.eng.Libpod(pctx, "/containers/"+c.id+"/healthcheck", &r)
	switch {
	case engine.IsLibpodStatus(err, http.StatusNotFound):
		return false
	case err != nil:
		return ctx.Err() == nil // not running (409), or a passing failure: try again next time
	case r.Status == "healthy":
		// One passing probe makes the container healthy, as with Docker.
		c.setHealth("healthy")
	default:
		// A failed probe leaves it starting until the retries are used up: ask.
		c.readHealth(ctx)
	}
	return true
}

// readHealth records the container's health status as the engine reports it.
func (c *Container) readHealth(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := c.eng.Client.ContainerInspect(ictx, c.id)
	if err != nil || info.State == nil || info.State.Health == nil {
		return
	}
	c.setHealth(info.State.Health.Status)
}

func (c *Container) setHealth(st string) {
	if st == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status.Health != st {
		c.status.Health = st
		c.notifyLocked()
	}
}

// reportsNoOOM reports whether eng may not say that a container was killed for memory:
// podman 4 set no OOMKilled and sent no oom event here (cgroup v1, cgroupfs).
// An exit by SIGKILL of a container with a memory limit is then reported as possibly
// one (see waitwire.Status.OOMUnreported).
func reportsNoOOM(ctx context.Context, eng *engine.Engine) bool {
	fs, err := getFacts(ctx, eng)
	return err == nil && fs.podman
}

// podmanImageHealth returns the HEALTHCHECK of image as podman's own API reports it,
// or nil: on Docker, when the image has none, or when podman cannot say.
func podmanImageHealth(ctx context.Context, eng *engine.Engine, image string) *container.HealthConfig {
	if fs, err := getFacts(ctx, eng); err != nil || !fs.podman {
		return nil
	}
	var img struct{ Healthcheck *container.HealthConfig }
	if err := eng.Libpod(ctx, "/images/"+image+"/json", &img); err != nil {
		return nil
	}
	return img.Healthcheck
}
