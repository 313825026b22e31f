package containers_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

// loopbackHint is what a wait says about a server that listens on loopback only.
const loopbackHint = "port 8080/tcp listens on 127.0.0.1 only inside the container: bind it to 0.0.0.0"

// loopbackHTTPD serves / on 127.0.0.1:8080 inside the container only, as "flask run"
// and many development servers do by default.
func loopbackHTTPD() containers.Spec {
	return containers.Image(busybox).
		File("/www/index.html", []byte("hello\n"), 0o644).
		Cmd("httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www").
		Expose("8080")
}

// runErr runs spec, which must not become ready, and returns its error.
func runErr(t *testing.T, spec containers.Spec) error {
	t.Helper()
	containers.RequireDocker(t)
	c, err := spec.Run(t.Context())
	if err == nil {
		defer c.Terminate(context.Background())
		t.Fatalf("container %s became ready; its published port does not reach the server", c.Name())
	}
	t.Logf("error: %v", err)
	return err
}

func TestLoopbackOnlyListenerIsNotReady(t *testing.T) {
	t.Parallel()
	for name, spec := range map[string]containers.Spec{
		"ForPort":      loopbackHTTPD().WaitFor(wait.ForPort("8080")),
		"default wait": loopbackHTTPD(),
		"ForHTTP":      loopbackHTTPD().WaitFor(wait.ForHTTP("/index.html")),
		"ForHTTP Port": loopbackHTTPD().WaitFor(wait.ForHTTP("/index.html").Port("8080/tcp")),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := runErr(t, spec.StartTimeout(3*time.Second))
			assert.ErrorIs(t, err, wait.ErrNotReady)
			assert.Contains(t, err.Error(), loopbackHint)
		})
	}
	t.Run("RunAll", func(t *testing.T) {
		t.Parallel()
		containers.RequireDocker(t)
		cs, err := containers.RunAll(t.Context(), nvSleeper(), loopbackHTTPD().StartTimeout(3*time.Second))
		for _, c := range cs {
			c.Terminate(context.Background())
		}
		require.Error(t, err)
		t.Logf("error: %v", err)
		assert.ErrorIs(t, err, wait.ErrNotReady)
		assert.Contains(t, err.Error(), loopbackHint)
	})
}

// TestLoopbackOnlyListenerFailsBeforeTheDeadline: a server that keeps listening on
// loopback only will never be reachable; the wait says so without waiting out a long
// start timeout.
func TestLoopbackOnlyListenerFailsBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	for name, st := range map[string]wait.Strategy{
		"ForPort": wait.ForPort("8080"),
		"ForHTTP": wait.ForHTTP("/index.html"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := runErr(t, loopbackHTTPD().WaitFor(st).StartTimeout(45*time.Second))
			assert.ErrorIs(t, err, wait.ErrNotReady)
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "the wait ran into its deadline")
			assert.Contains(t, err.Error(), loopbackHint)
		})
	}
}

// TestLoopbackListenerThenWildcardIsReady: a server that listens on loopback while it
// initialises, then on every address (as some images' entrypoints do), becomes ready.
func TestLoopbackListenerThenWildcardIsReady(t *testing.T) {
	t.Parallel()
	c := containers.Image(busybox).
		File("/www/index.html", []byte("hello\n"), 0o644).
		Cmd("sh", "-c", "httpd -f -p 127.0.0.1:8080 -h /www & pid=$!; sleep 2; kill $pid; wait $pid; exec httpd -f -p 8080 -h /www").
		Expose("8080").
		WaitFor(wait.ForHTTP("/index.html")).
		Start(t)
	assert.Equal(t, "hello\n", get(t, c.URL("http", "8080")+"/index.html"))
}

// TestListenerOnTheForwardedAddressIsReady: a server bound to the container's own
// address on the network its published port forwards to is reachable.
func TestListenerOnTheForwardedAddressIsReady(t *testing.T) {
	t.Parallel()
	for name, st := range map[string]wait.Strategy{
		"ForPort": wait.ForPort("8080"),
		"ForHTTP": wait.ForHTTP("/index.html"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := containers.Image(busybox).
				File("/www/index.html", []byte("hello\n"), 0o644).
				Cmd("sh", "-c", `exec httpd -f -p "$(hostname -i)":8080 -h /www`).
				Expose("8080").
				WaitFor(st).
				Start(t)
			assert.Equal(t, "hello\n", get(t, c.URL("http", "8080")+"/index.html"))
		})
	}
}

// TestListenerOnAnotherNetworkIsNotReady: on a container with two networks, the
// published port forwards to the address on one of them (the one with the default
// route); a server bound to the other address only is unreachable through it.
func TestListenerOnAnotherNetworkIsNotReady(t *testing.T) {
	t.Parallel()
	if testimages.IsPodman(t) {
		t.Skip("podman gives every network a default route of the same metric: which one carries the published ports cannot be told from inside, so ForPort dials instead (see TestJudgeListeners)")
	}
	a, b := network.New(t), network.New(t)
	// Bind to the address of the interface that does not carry the default route.
	script := `gw=$(ip route | awk '/^default/ {print $5}')
for dev in $(ls /sys/class/net); do
	case $dev in lo|"$gw") continue;; esac
	addr=$(ip -4 -o addr show dev "$dev" | awk '{print $4}' | cut -d/ -f1)
done
echo "binding to $addr"
exec httpd -f -p "$addr":8080 -h /www`
	spec := containers.Image(busybox).
		File("/www/index.html", []byte("hello\n"), 0o644).
		Cmd("sh", "-c", script).
		Expose("8080").
		On(a).On(b).
		StartTimeout(3 * time.Second)
	err := runErr(t, spec)
	assert.ErrorIs(t, err, wait.ErrNotReady)
	assert.Contains(t, err.Error(), "port 8080/tcp listens on ")
	assert.Contains(t, err.Error(), " only inside the container: bind it to 0.0.0.0")
	assert.NotContains(t, err.Error(), "127.0.0.1 only")
}

func TestOnSameNetworkTwiceMergesAliases(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	net := network.New(t)
	server := nvWebServer().On(net, "web").On(net, "www", "web").Start(t)
	client := nvSleeper().On(net).Start(t)
	nvRequireReaches(ctx, t, client, "web", "by the first call's alias")
	nvRequireReaches(ctx, t, client, "www", "by the second call's alias")

	info, err := server.Inspect(ctx)
	require.NoError(t, err)
	require.Len(t, info.Networks, 1)
	aliases := info.Networks[net.Name()].Aliases
	assert.Contains(t, aliases, "web")
	assert.Contains(t, aliases, "www")
}

// freePort returns a TCP port that nothing on this host listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHostNetworkEndpointIsTheContainerPort: with host networking nothing is
// published; the container's port is the host's, and Endpoint says so.
func TestHostNetworkEndpointIsTheContainerPort(t *testing.T) {
	t.Parallel()
	containers.RequireDocker(t)
	host, err := network.Lookup(t.Context(), "host")
	require.NoError(t, err)
	for name, join := range map[string]func(containers.Spec) containers.Spec{
		"On": func(s containers.Spec) containers.Spec { return s.On(host) },
		"Modify": func(s containers.Spec) containers.Spec {
			return s.Modify(func(_ *container.Config, hc *container.HostConfig) { hc.NetworkMode = "host" })
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			port := strconv.Itoa(freePort(t))
			// The server listens on the host's loopback only: nothing leaves this machine.
			spec := containers.Image(busybox).
				File("/www/index.html", []byte("hello\n"), 0o644).
				Cmd("httpd", "-f", "-p", "127.0.0.1:"+port, "-h", "/www").
				Expose(port)
			for _, st := range []wait.Strategy{nil, wait.ForPort(port), wait.ForHTTP("/index.html")} {
				s := join(spec)
				if st != nil {
					s = s.WaitFor(st)
				}
				c := s.Start(t)
				assert.Equal(t, "127.0.0.1:"+port, c.Endpoint(port))
				assert.Equal(t, "hello\n", get(t, c.URL("http", port)+"/index.html"))
				require.NoError(t, c.Terminate(t.Context()))
			}
		})
	}
}

// TestForHTTPWithoutTCPPortFailsAtOnce: HTTP needs a TCP port; a container that
// publishes only UDP ports has none to ask.
func TestForHTTPWithoutTCPPortFailsAtOnce(t *testing.T) {
	t.Parallel()
	for name, st := range map[string]wait.Strategy{
		"first port": wait.ForHTTP("/"),
		"Port udp":   wait.ForHTTP("/").Port("5353/udp"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := containers.Image(busybox).Cmd("sleep", "60").Expose("5353/udp").WaitFor(st).StartTimeout(45 * time.Second)
			err := runErr(t, spec)
			assert.False(t, errors.Is(err, context.DeadlineExceeded), "the wait ran into its deadline")
			assert.Contains(t, err.Error(), "5353/udp")
			assert.Contains(t, strings.ToLower(err.Error()), "tcp")
		})
	}
}
