package containers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/containertest/containertest/internal/engine"
)

// The event hub follows one engine event stream per process (container events of this
// session) and dispatches them to the containers that registered. One stream serves
// every container, and it is open before a container starts, so no die or health event
// is missed: the stream is opened with a "since" time that covers the moment between
// the engine's answer and its subscription.
type eventHub struct {
	mu      sync.Mutex
	subs    map[string]func(events.Message)
	running bool
	// ready is closed once the current stream is open.
	ready chan struct{}
	since time.Time
}

var hub = &eventHub{subs: map[string]func(events.Message){}}

// subscribe registers fn for events of container id and makes sure the stream is open.
func (h *eventHub) subscribe(ctx context.Context, eng *engine.Engine, id string, fn func(events.Message)) error {
	h.mu.Lock()
	h.subs[id] = fn
	if !h.running {
		h.running = true
		h.ready = make(chan struct{})
		if h.since.IsZero() {
			h.since = time.Now().Add(-time.Second)
		}
		go h.run(eng)
	}
	ready := h.ready
	h.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("subscribe to engine events: %w", ctx.Err())
	}
}

func (h *eventHub) unsubscribe(id string) {
	h.mu.Lock()
	delete(h.subs, id)
	h.mu.Unlock()
}

func (h *eventHub) run(eng *engine.Engine) {
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", engine.SessionFilter()),
	)
	backoff := 100 * time.Millisecond
	for {
		h.mu.Lock()
		since := h.since
		h.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		msgs, errs := eng.Client.Events(ctx, events.ListOptions{
			Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
			Filters: f,
		})
		h.mu.Lock()
		select {
		case <-h.ready:
		default:
			close(h.ready)
		}
		h.mu.Unlock()
	read:
		for {
			select {
			case m := <-msgs:
				backoff = 100 * time.Millisecond
				h.mu.Lock()
				if m.TimeNano > 0 {
					h.since = time.Unix(0, m.TimeNano)
				}
				fn := h.subs[m.Actor.ID]
				h.mu.Unlock()
				if fn != nil {
					fn(m)
				}
			case <-errs:
				break read
			}
		}
		cancel()
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// applyEvent updates a status from one container event.
func (c *Container) applyEvent(m events.Message) {
	action := string(m.Action)
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
		c.status.Health = strings.TrimSpace(st)
	default:
		return
	}
	c.notifyLocked()
}

func (c *Container) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
