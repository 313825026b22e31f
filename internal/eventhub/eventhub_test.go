package eventhub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/client"
	"github.com/containertest/containertest/internal/engine/docker/events"
)

// fakeEvents is an engine that answers only /events: a stream that sends what comes
// on send until the client goes away. It counts the streams open and opened.
type fakeEvents struct {
	open, total atomic.Int64
	send        chan events.Message
}

func (f *fakeEvents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/events") {
		http.NotFound(w, r)
		return
	}
	f.open.Add(1)
	defer f.open.Add(-1)
	f.total.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case m := <-f.send:
			enc.Encode(m)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func fakeEngine(t *testing.T, h http.Handler) *engine.Engine {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &engine.Engine{Client: cli, Addr: srv.URL, Host: "127.0.0.1", APIVersion: "1.41"}
}

// waitStreamDone waits until the hub's last stream has ended and the engine has seen
// every stream close.
func waitStreamDone(t *testing.T, h *Hub, f *fakeEvents) {
	t.Helper()
	h.mu.Lock()
	open, last := h.stream != nil, h.last
	h.mu.Unlock()
	if open {
		t.Fatal("the hub keeps its stream open with no subscriber")
	}
	if last == nil {
		t.Fatal("no stream was ever opened")
	}
	select {
	case <-last.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream's goroutine did not return after its last subscriber left")
	}
	for deadline := time.Now().Add(30 * time.Second); f.open.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the engine still has %d event streams open", f.open.Load())
		}
	}
}

func TestEventHubClosesAndReopens(t *testing.T) {
	f := &fakeEvents{send: make(chan events.Message)}
	eng := fakeEngine(t, f)
	h := New()
	for round := range 3 {
		got := make(chan events.Message, 1)
		id := fmt.Sprint("c", round)
		if err := h.Subscribe(t.Context(), eng, id, func(m events.Message) { got <- m }); err != nil {
			t.Fatal(err)
		}
		// The stream of this round delivers to this round's subscriber.
		f.send <- events.Message{Action: "die", Actor: events.Actor{ID: id}, TimeNano: time.Now().UnixNano()}
		select {
		case m := <-got:
			if m.Actor.ID != id || m.Action != "die" {
				t.Fatalf("round %d: got %+v", round, m)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the event was not delivered", round)
		}
		h.Unsubscribe(id)
		waitStreamDone(t, h, f)
	}
	if n := f.total.Load(); n != 3 {
		t.Errorf("%d streams opened for 3 rounds; want 3", n)
	}
}

// Subscribers come and go concurrently (run it under -race): no stream, and no
// goroutine reading one, is left when the last one leaves.
func TestEventHubConcurrentSubscribers(t *testing.T) {
	f := &fakeEvents{send: make(chan events.Message)}
	eng := fakeEngine(t, f)
	h := New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				id := fmt.Sprintf("c%d-%d", g, i)
				if err := h.Subscribe(context.Background(), eng, id, func(events.Message) {}); err != nil {
					t.Error(err)
					return
				}
				h.Unsubscribe(id)
			}
		})
	}
	wg.Wait()
	waitStreamDone(t, h, f)
	// Every stream opened on the way has ended, not only the last.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		buf := make([]byte, 1<<22)
		n := strings.Count(string(buf[:runtime.Stack(buf, true)]), "eventhub.(*Hub).run(")
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still read event streams", n)
		}
	}
	t.Logf("%d streams opened for 800 subscriptions", f.total.Load())
}
