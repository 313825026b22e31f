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
// the engine's answer and its subscription. The first subscriber opens the stream and
// the last one to leave closes it, so that a process whose containers are all gone
// holds no goroutine and no connection for it; the next subscriber opens a new one.
type eventHub struct {
	mu   sync.Mutex
	subs map[string]func(events.Message)
	// stream is the open stream, nil while nobody subscribes.
	stream *eventStream
	// last is the most recently opened stream, for tests.
	last *eventStream
}

// An eventStream is one open engine event stream and the goroutine that reads it.
type eventStream struct {
	cancel context.CancelFunc
	// ready is closed once the stream has been asked of the engine.
	ready chan struct{}
	// done is closed when the reading goroutine has returned.
	done chan struct{}
}

var hub = &eventHub{subs: map[string]func(events.Message){}}

// subscribe registers fn for events of container id and makes sure the stream is open.
func (h *eventHub) subscribe(ctx context.Context, eng *engine.Engine, id string, fn func(events.Message)) error {
	h.mu.Lock()
	h.subs[id] = fn
	s := h.stream
	if s == nil {
		sctx, cancel := context.WithCancel(context.Background())
		s = &eventStream{cancel: cancel, ready: make(chan struct{}), done: make(chan struct{})}
		h.stream, h.last = s, s
		go h.run(sctx, eng, s)
	}
	h.mu.Unlock()
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("subscribe to engine events: %w", ctx.Err())
	}
}

// unsubscribe removes the registration of container id; the last one closes the stream.
func (h *eventHub) unsubscribe(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, id)
	if len(h.subs) == 0 && h.stream != nil {
		h.stream.cancel()
		h.stream = nil
	}
}

// run reads stream s until it is cancelled, reconnecting (with a growing pause) when
// the engine ends it.
func (h *eventHub) run(ctx context.Context, eng *engine.Engine, s *eventStream) {
	defer close(s.done)
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", engine.SessionFilter()),
	)
	since := time.Now().Add(-time.Second)
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		msgs, errs := eng.Client.Events(ctx, events.ListOptions{
			Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
			Filters: f,
		})
		if first {
			close(s.ready)
		}
	read:
		for {
			select {
			case m := <-msgs:
				backoff = 100 * time.Millisecond
				if m.TimeNano > 0 {
					since = time.Unix(0, m.TimeNano)
				}
				var fn func(events.Message)
				h.mu.Lock()
				if h.stream == s { // a closed stream delivers nothing more
					fn = h.subs[m.Actor.ID]
				}
				h.mu.Unlock()
				if fn != nil {
					fn(m)
				}
			case <-errs:
				break read
			}
		}
		pause := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			pause.Stop()
			return
		case <-pause.C:
		}
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
