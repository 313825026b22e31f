package wait_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

const loopbackHint = "port 8080/tcp listens on 127.0.0.1 only inside the container: bind it to 0.0.0.0"

func TestLoopbackOnlyIsNotReadyAtTheDeadline(t *testing.T) {
	for name, st := range map[string]wait.Strategy{
		"ForPort":         wait.ForPort("8080/tcp"),
		"ForPort no /tcp": wait.ForPort("8080"),
		"ForHTTP":         wait.ForHTTP("/").Port("8080/tcp"),
		"ForHTTP no /tcp": wait.ForHTTP("/").Port("8080"),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			// What the engine's proxy does when nothing listens where it forwards to.
			f.ports["8080/tcp"] = newTestServer(t, false).port()
			f.ports["8080"] = f.ports["8080/tcp"]
			d := listenTarget{f, map[string]waitwire.Listeners{"8080/tcp": loopbackOnly, "8080": loopbackOnly}}
			err := wait.Ready(t.Context(), d, st, 200*time.Millisecond)
			require.Error(t, err)
			t.Logf("error: %v", err)
			assert.ErrorIs(t, err, wait.ErrNotReady)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorIs(t, err, wait.ErrUnreachableListener)
			assert.Contains(t, err.Error(), "timed out after")
			assert.Contains(t, err.Error(), loopbackHint)
		})
	}
}

func TestLoopbackOnlyGivesUpBeforeTheDeadline(t *testing.T) {
	defer wait.SetUnreachableGrace(300 * time.Millisecond)()
	for name, st := range map[string]wait.Strategy{
		"ForPort": wait.ForPort("8080/tcp"),
		"ForHTTP": wait.ForHTTP("/").Port("8080/tcp"),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			f.ports["8080/tcp"] = newTestServer(t, false).port()
			d := listenTarget{f, map[string]waitwire.Listeners{"8080/tcp": loopbackOnly}}
			err := wait.Ready(t.Context(), d, st, long)
			require.Error(t, err)
			t.Logf("error: %v", err)
			assert.ErrorIs(t, err, wait.ErrNotReady)
			assert.ErrorIs(t, err, wait.ErrUnreachableListener)
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "gave up after")
			assert.Contains(t, err.Error(), loopbackHint)
		})
	}
}

func TestLoopbackWhileInitialisingThenReady(t *testing.T) {
	defer wait.SetUnreachableGrace(time.Hour)()
	srv := newTestServer(t, false)
	f := newFake()
	f.ports["8080/tcp"] = srv.port()
	d := listenTarget{f, map[string]waitwire.Listeners{"8080/tcp": loopbackOnly}}
	done := async(t.Context(), d, wait.ForPort("8080/tcp"), long)
	time.Sleep(50 * time.Millisecond)
	requirePending(t, done, "the port listened on loopback only")
	d.set("8080/tcp", listening)
	srv.real.Store(true)
	require.NoError(t, <-done)
}

// TestForHTTPAnswerBeatsTheSocketTable: a server that answers is reachable, whatever
// the socket table seems to say; the answer is what the error reports.
func TestForHTTPAnswerBeatsTheSocketTable(t *testing.T) {
	defer wait.SetUnreachableGrace(50 * time.Millisecond)()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "warming up", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := newFake()
	publish(t, f, srv)
	d := listenTarget{f, map[string]waitwire.Listeners{"8080/tcp": loopbackOnly}}
	err := wait.Ready(t.Context(), d, wait.ForHTTP("/").Port("8080/tcp"), 300*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, wait.ErrUnreachableListener)
	assert.Contains(t, err.Error(), "HTTP 503")
	assert.NotContains(t, err.Error(), "127.0.0.1 only")
}

func TestForHTTPNeedsATCPPort(t *testing.T) {
	f := newFake()
	f.ports["53/udp"] = refusedPort(t)
	udpOnly := listerTarget{f, []string{"53/udp", "9000/sctp"}}
	for name, tc := range map[string]struct {
		target wait.Target
		st     wait.Strategy
		want   string
	}{
		"first port": {udpOnly, wait.ForHTTP("/"), "HTTP needs a TCP port and the container publishes none (only 53/udp, 9000/sctp)"},
		"Port udp":   {f, wait.ForHTTP("/").Port("53/udp"), "HTTP needs a TCP port, not 53/udp"},
		"Port sctp":  {f, wait.ForHTTP("/").Port("9000/SCTP"), "HTTP needs a TCP port, not 9000/sctp"},
	} {
		t.Run(name, func(t *testing.T) {
			err := wait.Ready(t.Context(), tc.target, tc.st, long)
			require.Error(t, err)
			t.Logf("error: %v", err)
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// The first TCP port is the default, after UDP ones.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	publish(t, f, srv)
	mixed := listerTarget{f, []string{"53/udp", "8080/tcp"}}
	require.NoError(t, wait.Ready(t.Context(), mixed, wait.ForHTTP("/"), long))
}

// A container whose process died is no longer in the socket table's reach (its pid is
// gone), while the engine's proxy may still accept on the published port and hold the
// connection, dialling an address nobody answers on. Once the table was known, losing
// it must not turn the wait over to timing the proxy, which would call such a port
// ready.
func TestPortWaitKeepsTrustingTheSocketTable(t *testing.T) {
	f := newFake()
	// A proxy whose backend hangs: it accepts and keeps the connection open, silent.
	f.ports["8080/tcp"] = newSlowTestServer(t, false, 10*time.Second).port()
	d := listenTarget{f, map[string]waitwire.Listeners{"8080/tcp": notListening}}
	go func() {
		time.Sleep(50 * time.Millisecond)
		d.set("8080/tcp", waitwire.Listeners{}) // the process is gone: the table is out of reach
	}()
	err := wait.Ready(t.Context(), d, wait.ForPort("8080/tcp"), 700*time.Millisecond)
	require.Error(t, err, "ForPort called a port ready that nothing listened on")
	assert.ErrorIs(t, err, wait.ErrNotReady)
}
