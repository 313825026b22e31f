package containers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/network"
)

// nvIdle is a busybox shell that exits at once on SIGTERM, so Stop and Restart are quick.
const nvIdle = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"

// nvSleeper is a container that does nothing until stopped.
func nvSleeper() containers.Spec {
	return containers.Image(busybox).Cmd("sh", "-c", nvIdle)
}

// nvWebServer serves "hello from busybox\n" at :8080/index.html and stops at once on SIGTERM.
func nvWebServer() containers.Spec {
	return containers.Image(busybox).
		File("/www/index.html", []byte("hello from busybox\n"), 0o644).
		Cmd("sh", "-c", "httpd -p 8080 -h /www && "+nvIdle).
		Expose("8080")
}

// nvFetch has c get http://host:8080/index.html and returns the body, or an error with
// the client's error output. It speaks HTTP through nc: the busybox image's wget
// crashes (a static build).
func nvFetch(ctx context.Context, t *testing.T, c *containers.Container, host string) (string, error) {
	t.Helper()
	res, err := c.Exec(ctx, "sh", "-c", `printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 3 "$0" 8080`, host)
	require.NoError(t, err)
	if res.ExitCode != 0 {
		return "", fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	head, body, ok := strings.Cut(res.Stdout, "\r\n\r\n")
	if !ok || !strings.Contains(head, " 200 ") {
		return "", fmt.Errorf("no HTTP 200 response: %q", res.Stdout)
	}
	return body, nil
}

// nvRequireReaches fails the test unless client gets the page from host.
func nvRequireReaches(ctx context.Context, t *testing.T, client *containers.Container, host, when string) {
	t.Helper()
	body, err := nvFetch(ctx, t, client, host)
	require.NoError(t, err, "%s: %s cannot reach %s", when, client.Name(), host)
	require.Equal(t, "hello from busybox\n", body, "%s: page from %s", when, host)
}

// nvResolve returns what host resolves to inside c, or "" when it does not resolve
// within a few seconds. Docker's embedded DNS knows a name once its container has
// started; podman's dnsname plugin reloads its dnsmasq after the start, and a lookup
// in that moment is refused once (seen with podman 4.3).
func nvResolve(ctx context.Context, t *testing.T, c *containers.Container, host string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if addr := nvResolveOnce(ctx, t, c, host); addr != "" || time.Now().After(deadline) {
			return addr
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func nvResolveOnce(ctx context.Context, t *testing.T, c *containers.Container, host string) string {
	t.Helper()
	res, err := c.Exec(ctx, "nslookup", host)
	require.NoError(t, err)
	if res.ExitCode != 0 {
		return ""
	}
	// busybox nslookup: "Name: host\nAddress: 10.0.0.2" after the server's lines.
	_, after, ok := strings.Cut(res.Stdout, "Name:")
	if !ok {
		return ""
	}
	for _, line := range strings.Split(after, "\n") {
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "Address:"); ok {
			return strings.Fields(a)[0]
		}
	}
	return ""
}

func TestNetworkPeersReachEachOtherByAliasAndName(t *testing.T) {
	ctx := t.Context()
	net := network.New(t)
	all := containers.StartAll(t, nvWebServer().On(net, "web"), nvSleeper().On(net, "client"))
	server, client := all[0], all[1]

	nvRequireReaches(ctx, t, client, "web", "by alias")
	nvRequireReaches(ctx, t, client, server.Name(), "by container name")
	// The names resolve to the address the container has on this network.
	ip, err := server.IP(ctx, net)
	require.NoError(t, err)
	require.NotEmpty(t, ip)
	assert.Equal(t, ip, nvResolve(ctx, t, client, "web"))
	assert.Equal(t, ip, nvResolve(ctx, t, client, server.Name()))
}

func TestNetworkDisconnectAndConnect(t *testing.T) {
	ctx := t.Context()
	net := network.New(t)
	server := nvWebServer().On(net, "web").Start(t)
	client := nvSleeper().On(net).Start(t)
	nvRequireReaches(ctx, t, client, "web", "before the partition")

	require.NoError(t, server.Disconnect(ctx, net))
	_, err := nvFetch(ctx, t, client, "web")
	assert.Error(t, err, "client reached the server after Disconnect")
	_, err = nvFetch(ctx, t, client, server.Name())
	assert.Error(t, err, "client reached the server by name after Disconnect")
	_, err = server.IP(ctx, net)
	assert.Error(t, err, "IP on a network the container left")

	require.NoError(t, server.Connect(ctx, net, "web"))
	nvRequireReaches(ctx, t, client, "web", "after Connect")
	nvRequireReaches(ctx, t, client, server.Name(), "after Connect, by name")
}

func TestNetworkNameResolvesAfterRestart(t *testing.T) {
	ctx := t.Context()
	net := network.New(t)
	server := nvWebServer().On(net, "web").Start(t)
	client := nvSleeper().On(net).Start(t)
	nvRequireReaches(ctx, t, client, "web", "before the restart")

	require.NoError(t, server.Restart(ctx, 5*time.Second))
	nvRequireReaches(ctx, t, client, "web", "after Restart")
	nvRequireReaches(ctx, t, client, server.Name(), "after Restart, by name")

	// Make the engine give the server a new address: stop it, let another container
	// take its address, start it again.
	before, err := server.IP(ctx, net)
	require.NoError(t, err)
	require.NoError(t, server.Stop(ctx, 5*time.Second))
	nvSleeper().On(net).Start(t)
	require.NoError(t, server.Start(ctx))
	after, err := server.IP(ctx, net)
	require.NoError(t, err)
	require.NotEqual(t, before, after, "the server kept its address; the test needs it to change")
	assert.Equal(t, after, nvResolve(ctx, t, client, "web"), "alias resolves to the new address")
	nvRequireReaches(ctx, t, client, "web", "after the address changed")
	nvRequireReaches(ctx, t, client, server.Name(), "after the address changed, by name")
}

func TestNetworkSecondNetworkJoinedAfterCreate(t *testing.T) {
	ctx := t.Context()
	front, back := network.New(t), network.New(t)
	// The api container is on both networks: the first at create, the second right after.
	api := nvWebServer().On(front, "api").On(back, "api-internal").Start(t)
	web := nvSleeper().On(front).Start(t)
	db := nvSleeper().On(back).Start(t)

	nvRequireReaches(ctx, t, web, "api", "front to api")
	nvRequireReaches(ctx, t, db, "api-internal", "back to api")
	// Aliases are per network.
	_, err := nvFetch(ctx, t, web, "api-internal")
	assert.Error(t, err, "an alias of the back network resolved on the front network")
	// Networks are isolated from each other.
	dbIP, err := db.IP(ctx, back)
	require.NoError(t, err)
	res, err := web.Exec(ctx, "ping", "-c1", "-W1", dbIP)
	require.NoError(t, err)
	assert.NotEqual(t, 0, res.ExitCode, "front reached %s on the back network", dbIP)
	for _, n := range []*network.Network{front, back} {
		ip, err := api.IP(ctx, n)
		require.NoError(t, err)
		assert.NotEmpty(t, ip, "api has no address on %s", n.Name())
	}
}

func TestNetworkInternal(t *testing.T) {
	ctx := t.Context()
	net := network.New(t, network.Internal())
	peer := nvSleeper().On(net, "peer").Start(t)
	client := nvSleeper().On(net).Start(t)
	info, err := net.Inspect(ctx)
	require.NoError(t, err)
	target := "peer"
	if !info.DNS {
		// Podman's CNI backend runs no DNS on internal networks; Info.DNS says so.
		t.Log("the engine resolves no names on internal networks: reaching the peer by address")
		target, err = peer.IP(ctx, net)
		require.NoError(t, err)
	}
	res, err := client.Exec(ctx, "ping", "-c1", "-W3", target)
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode, "peers on an internal network cannot reach each other: %s", res.Stderr)
}

func TestNetworkRemoveInUse(t *testing.T) {
	containers.RequireDocker(t) // the checks after the subtest need an engine too
	ctx := t.Context()
	var net *network.Network
	t.Run("inner", func(t *testing.T) {
		net = network.New(t)
		c := nvSleeper().On(net).Start(t)
		err := net.Remove(ctx)
		require.ErrorIs(t, err, network.ErrInUse)
		t.Logf("error: %v", err)
		assert.Contains(t, err.Error(), c.Name())
		assert.Contains(t, err.Error(), net.Name())
		// The test's cleanup removes the container, then the network.
	})
	assert.True(t, net.Removed(), "network %s still there after its test", net.Name())
	nvRequireNoNetwork(t, net)
}

// Bad input: each is a clear error, and nothing is left behind.

func TestNetworkAliasesOnDefaultBridge(t *testing.T) {
	ctx := t.Context()
	containers.RequireDocker(t)
	bridge, err := network.Lookup(ctx, "bridge")
	require.NoError(t, err)
	name := "ct-alias-on-bridge-" + engine.SessionID()
	c, err := nvSleeper().Named(name).On(bridge, "nope").Run(ctx)
	if err == nil {
		c.Terminate(context.Background())
		t.Fatal("Run with an alias on the default bridge network succeeded")
	}
	t.Logf("error: %v", err)
	assert.Contains(t, err.Error(), "alias")
	assert.Contains(t, err.Error(), "bridge")
	requireNoLeak(t, name)
}

func TestNetworkJoinRemoved(t *testing.T) {
	ctx := t.Context()
	net := network.New(t)
	require.NoError(t, net.Remove(ctx))

	name := "ct-join-removed-" + engine.SessionID()
	c, err := nvSleeper().Named(name).On(net, "db").Run(ctx)
	if err == nil {
		c.Terminate(context.Background())
		t.Fatal("Run on a removed network succeeded")
	}
	t.Logf("error: %v", err)
	assert.Contains(t, err.Error(), net.Name(), "the error names the network")
	if !errors.Is(err, network.ErrRemoved) {
		assert.Contains(t, err.Error(), "not found")
	}
	requireNoLeak(t, name)

	// Connecting a running container to it fails the same way.
	other := nvSleeper().Start(t)
	err = other.Connect(ctx, net)
	require.Error(t, err)
	t.Logf("Connect: %v", err)
	assert.Contains(t, err.Error(), net.Name())
	nvRequireNoNetwork(t, net)
}

// nvRequireNoNetwork checks that the engine no longer has net.
func nvRequireNoNetwork(t *testing.T, net *network.Network) {
	t.Helper()
	eng, err := engine.Get(context.Background())
	require.NoError(t, err)
	_, err = eng.Client.NetworkInspect(context.Background(), net.ID(), dnetwork.InspectOptions{})
	assert.True(t, errdefs.IsNotFound(err), "network %s still exists (inspect: %v)", net.Name(), err)
}

// A published port of a container that is also on an internal network is reached.
// Podman's CNI backend forwards the port to the container's address on every network,
// in an order that varies from start to start, the first winning, and an internal
// network's address cannot be reached from the host; a restart sets them up again.
func TestPublishedPortWithAnInternalNetwork(t *testing.T) {
	ctx := t.Context()
	for _, internalFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("internal made first=%v", internalFirst), func(t *testing.T) {
			var nets []*network.Network
			for _, internal := range []bool{internalFirst, !internalFirst} {
				var opts []network.Option
				if internal {
					opts = append(opts, network.Internal())
				}
				nets = append(nets, network.New(t, opts...))
			}
			for round := range 3 {
				c := httpd().On(nets[0]).On(nets[1]).Start(t)
				assert.Equal(t, "hello from busybox\n", get(t, c.URL("http", "8080")+"/index.html"),
					"round %d: through the published port, with networks %s and %s", round, nets[0].Name(), nets[1].Name())
				require.NoError(t, c.Restart(ctx, 0))
				assert.Equal(t, "hello from busybox\n", get(t, c.URL("http", "8080")+"/index.html"),
					"round %d, after a restart: through the published port", round)
				require.NoError(t, c.Terminate(ctx))
			}
		})
	}
}
