package wait

import (
	"context"
	"fmt"
	"time"

	"github.com/containertest/containertest/internal/waitwire"
)

// HealthStrategy waits until the container's Docker health check reports healthy.
// See ForHealthy.
type HealthStrategy struct {
	timeout time.Duration
}

// ForHealthy waits until the container's health check (HEALTHCHECK in the image, or
// one set by the spec) reports "healthy". It follows the health_status events of the
// engine's event stream; it does not poll. A container without a health check fails
// at once. An unhealthy container is waited for (it may recover) until the deadline,
// and the error then carries the last probe's output.
func ForHealthy() *HealthStrategy { return &HealthStrategy{} }

// Timeout returns a copy of s with a deadline of its own.
func (s *HealthStrategy) Timeout(d time.Duration) *HealthStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: "health check".
func (s *HealthStrategy) String() string { return "health check" }

// WaitUntilReady implements Strategy.
func (s *HealthStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	if !isObserved(t) {
		return fmt.Errorf("%s: container %s does not report its state (the target follows no engine events)", s, t.Name())
	}
	for {
		ch := observed(t).StatusChanged()
		st := observed(t).Status()
		if !st.HasHealthCheck {
			return fmt.Errorf("%s: container %s has no health check: add HEALTHCHECK to the image or set one in the spec", s, t.Name())
		}
		if st.Health == "healthy" {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return notReady(ctx, s, start, s.lastProbe(ctx, t))
		}
	}
}

// lastProbe says what the health check last reported: "unhealthy: <probe output>".
func (s *HealthStrategy) lastProbe(ctx context.Context, t Target) string {
	health := observed(t).Status().Health
	if health == "" {
		health = "no health report yet"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	hl, ok := framework(t).(waitwire.HealthLogger)
	if !ok {
		return health
	}
	out, err := hl.HealthLog(ctx)
	switch {
	case err != nil:
		return fmt.Sprintf("%s (probe output unavailable: %v)", health, err)
	case out == "":
		return health
	}
	return health + ": " + oneLine(out, 300)
}
