package containers_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// exitsLater is a container that is running when Start has seen it start and exits
// with code 3 a moment later: ForExit(3) is satisfied only by its die event.
func exitsLater() containers.Spec {
	return containers.Image(busybox).Cmd("sh", "-c", "sleep 0.3; exit 3").WaitFor(wait.ForExit(3))
}

// eventGoroutines returns the stacks of goroutines that follow the engine's event
// stream: the hub's reader and the client's decoder.
func eventGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "eventhub.(*Hub).run") || strings.Contains(g, "client.(*Client).Events") {
			out = append(out, g)
		}
	}
	return out
}

// requireNoEventStream waits (boundedly) until no goroutine follows the event stream.
func requireNoEventStream(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gs := eventGoroutines()
		if len(gs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event stream is still followed after its last container was removed:\n%s", strings.Join(gs, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The stream is closed when the last container leaves, and opened again for the next
// one, which still sees its die event.
func TestEventStreamClosesWithItsLastContainer(t *testing.T) {
	containers.RequireDocker(t)
	for round := range 2 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			exitsLater().Start(t)
			if len(eventGoroutines()) == 0 {
				t.Error("no goroutine follows the event stream while a container is subscribed")
			}
		})
		requireNoEventStream(t)
	}
}
