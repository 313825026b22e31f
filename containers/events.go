package containers

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/containertest/containertest/internal/engine/docker/events"
)

// lateEvent is an event action (a string) that tests have the containers ignore, as
// if it never came in time.
var lateEvent atomic.Value

// applyEvent updates a status from one container event.
func (c *Container) applyEvent(m events.Message) {
	action := string(m.Action)
	if late, _ := lateEvent.Load().(string); late != "" && action == late {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case action == "start" || action == "restart" || action == "unpause":
		c.status.Running = true
		c.status.Exited = false
		c.status.ExitCode = 0
		c.status.OOMKilled = false
		if c.status.HasHealthCheck && action != "unpause" {
			c.status.Health = "starting"
		}
	case action == "die":
		c.status.Running = false
		c.status.Exited = true
		if code, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
			c.status.ExitCode = code
		}
	case action == "oom":
		c.status.OOMKilled = true
	case strings.HasPrefix(action, "health_status"):
		_, st, _ := strings.Cut(action, ":")
		if st = strings.TrimSpace(st); st == "" {
			// Podman's event names no status: its supervisor asks the engine.
			c.kickHealthLocked()
			return
		}
		c.status.Health = st
	default:
		return
	}
	c.notifyLocked()
}

func (c *Container) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
