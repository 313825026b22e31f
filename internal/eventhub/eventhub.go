// Package eventhub follows the engine's event stream for the containers of this
// session, one stream per process, and hands each event to the container it concerns.
package eventhub

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/events"
	"github.com/containertest/containertest/internal/engine/docker/filters"
)

// A Hub follows one engine event stream per process (container events of this
// session) and dispatches them to the containers that registered. One stream serves
// every container, and it is open before a container starts, so no die or health event
// is missed: the stream is opened with a "since" time that covers the moment between
// the engine's answer and its subscription. The first subscriber opens the stream and
// the last one to leave closes it, so that a process whose containers are all gone
// holds no goroutine and no connection for it; the next subscriber opens a new one.
type Hub struct {
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

// Default is the hub of the process.
var Default = New()

// New returns a hub with no subscriber and no stream.
func New() *Hub { return &Hub{subs: map[string]func(events.Message){}} }

// Stream reports whether the hub has a stream open, and returns a channel that is
// closed when the goroutine of the most recently opened stream has returned (nil when
// none was ever opened).
func (h *Hub) Stream() (open bool, done <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != nil {
		done = h.last.done
	}
	return h.stream != nil, done
}

// Subscribe registers fn for events of container id and makes sure the stream is open.
func (h *Hub) Subscribe(ctx context.Context, eng *engine.Engine, id string, fn func(events.Message)) error {
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

// Unsubscribe removes the registration of container id; the last one closes the stream.
func (h *Hub) Unsubscribe(id string) {
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
func (h *Hub) run(ctx context.Context, eng *engine.Engine, s *eventStream) {
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
