package containers

import (
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/events"
)

func TestHealthDefaultsByAPIVersion(t *testing.T) {
	probe := &container.HealthConfig{Test: []string{"CMD", "true"}, Retries: 2}
	old := healthDefaults(probe, "1.41", time.Minute)
	if old.Interval != DefaultHealthInterval || old.StartInterval != 0 || old.StartPeriod != 0 || old.Retries != 2 {
		t.Errorf("API 1.41: got %+v, want interval %v and nothing else changed", old, DefaultHealthInterval)
	}
	cur := healthDefaults(probe, "1.44", time.Minute)
	if cur.Interval != DefaultHealthSteadyInterval || cur.StartInterval != DefaultHealthStartInterval || cur.StartPeriod != time.Minute {
		t.Errorf("API 1.44: got %+v", cur)
	}
	kept := healthDefaults(&container.HealthConfig{Test: []string{"CMD", "true"}, StartPeriod: 5 * time.Second, StartInterval: time.Second}, "1.51", time.Minute)
	if kept.StartPeriod != 5*time.Second || kept.StartInterval != time.Second {
		t.Errorf("API 1.51: explicit start period and interval changed: %+v", kept)
	}
	if probe.Interval != 0 {
		t.Error("healthDefaults changed its argument")
	}
}

func TestWaitsForHealthyOnlyAtTopLevel(t *testing.T) {
	if Image("x").waitsForHealthy() {
		t.Error("a spec without WaitFor waits for health")
	}
}

// Podman's health_status events name no status: they must not wipe the one known, and
// they tell the health supervisor to ask the engine.
func TestStatuslessHealthEventKeepsStatusAndAsks(t *testing.T) {
	c := newContainer(nil, Image("x"), "id", "name", "x")
	c.status.HasHealthCheck = true
	c.status.Health = "starting"
	h := &healthSupervisor{kick: make(chan struct{}, 1)}
	c.health = h

	c.applyEvent(events.Message{Action: "health_status"})
	if got := c.state().Health; got != "starting" {
		t.Errorf("after podman's health_status event: health %q, want it kept as \"starting\"", got)
	}
	select {
	case <-h.kick:
	default:
		t.Error("podman's health_status event did not reach the supervisor")
	}

	c.applyEvent(events.Message{Action: "health_status: healthy"})
	if got := c.state().Health; got != "healthy" {
		t.Errorf("after Docker's health_status event: health %q, want \"healthy\"", got)
	}
	select {
	case <-h.kick:
		t.Error("an event that names its status asked the engine again")
	default:
	}
}

// Generated names are what peers resolve through the network's DNS: lower case, which
// every engine's DNS answers (podman's aardvark-dns answers a name with capitals only
// when asked in lower case).
func TestGeneratedNamesAreLowerCase(t *testing.T) {
	t.Run("Sub/Test With Spaces", func(t *testing.T) {
		name := generateName(t)
		if name != strings.ToLower(name) {
			t.Errorf("generated name %q has capitals", name)
		}
		if !strings.HasPrefix(name, "ct-testgeneratednamesarelowercase_sub_test_-") {
			t.Errorf("generated name %q does not start with the test's name", name)
		}
	})
}

// A removal stops the health supervisor for good: a start that races the removal
// starts none again (its goroutine would outlive the container).
func TestNoHealthSupervisorAfterRemovalBegan(t *testing.T) {
	c := newContainer(nil, Image("x"), "id", "name", "x")
	c.stopHealth(true)
	c.superviseHealth(t.Context(), &container.HealthConfig{Test: []string{"CMD", "true"}})
	if c.health != nil {
		t.Fatal("a health supervisor started after the removal began")
	}
}
