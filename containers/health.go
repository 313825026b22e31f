package containers

import (
	"context"
	"time"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/versions"
	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

// Health check defaults for tests. The engine's own defaults (a probe every 30 s) are
// made for production: a container whose first probe passes one second after start
// would be reported healthy only 30 s later.
const (
	// DefaultHealthInterval is the probe interval of a health check that sets none, on
	// engines without a start interval (API before 1.44).
	DefaultHealthInterval = 100 * time.Millisecond
	// DefaultHealthStartInterval is the probe interval during the start period of a
	// health check that sets no interval, on engines with API 1.44 or newer.
	DefaultHealthStartInterval = 100 * time.Millisecond
	// DefaultHealthSteadyInterval is the probe interval after the start period (once
	// the container has been healthy) on engines with API 1.44 or newer.
	DefaultHealthSteadyInterval = time.Second
)

// startIntervalAPI is the first API version whose health checks have a start interval.
const startIntervalAPI = "1.44"

// applyHealthDefaults fills in the test-friendly probe timing of a health check that
// sets no interval:
//
//   - on an engine with API 1.44 or newer: StartInterval DefaultHealthStartInterval
//     during the start period, Interval DefaultHealthSteadyInterval afterwards, and,
//     when no StartPeriod is set, a start period as long as the spec's start timeout
//     (failures in it do not count, and the first passing probe ends it);
//   - on older engines, which probe at one rate only: Interval DefaultHealthInterval.
//
// It applies to the spec's HealthCheck, and to the image's own HEALTHCHECK when the
// spec has none and waits for it with wait.ForHealthy (directly in WaitFor, not nested
// in wait.All or wait.Any): the image's probe and its other settings are kept, only its
// missing timing is filled in. An explicit Interval is always left alone.
func (s Spec) applyHealthDefaults(ctx context.Context, eng *engine.Engine, cfg *container.Config) {
	hc := cfg.Healthcheck
	if hc == nil && s.health == nil && s.waitsForHealthy() {
		img, err := eng.Client.ImageInspect(ctx, cfg.Image)
		if err != nil {
			// A missing image is reported, with the pull, by the create that follows.
			return
		}
		var h *container.HealthConfig
		if img.Config != nil {
			h = img.Config.Healthcheck
		}
		if h == nil {
			h = podmanImageHealth(ctx, eng, cfg.Image)
		}
		if h == nil || len(h.Test) == 0 {
			return
		}
		hcopy := *h
		hc = &hcopy
	}
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" || hc.Interval != 0 {
		return
	}
	hc = healthDefaults(hc, eng.APIVersion, s.startTimeoutOrDefault())
	cfg.Healthcheck = hc
}

// healthDefaults returns a copy of hc (whose Interval is zero) with the defaults of
// applyHealthDefaults for an engine speaking api.
func healthDefaults(hc *container.HealthConfig, api string, startPeriod time.Duration) *container.HealthConfig {
	h := *hc
	if api != "" && versions.GreaterThanOrEqualTo(api, startIntervalAPI) {
		h.Interval = DefaultHealthSteadyInterval
		if h.StartInterval == 0 {
			h.StartInterval = DefaultHealthStartInterval
		}
		if h.StartPeriod == 0 {
			h.StartPeriod = startPeriod
		}
		return &h
	}
	h.Interval = DefaultHealthInterval
	return &h
}

// waitsForHealthy reports whether one of the spec's strategies is wait.ForHealthy.
func (s Spec) waitsForHealthy() bool {
	for _, st := range s.waits {
		if _, ok := st.(*wait.HealthStrategy); ok {
			return true
		}
	}
	return false
}

// startTimeoutOrDefault is the readiness deadline Start uses when the context sets
// none: the spec's, CONTAINERTEST_START_TIMEOUT, or 60 s.
func (s Spec) startTimeoutOrDefault() time.Duration {
	if s.startTimeout > 0 {
		return s.startTimeout
	}
	return waitwire.DefaultTimeout()
}
