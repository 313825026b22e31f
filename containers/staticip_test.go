package containers_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
)

// ipOf returns the container's IPv4 address on eth N, as the container sees it.
func ipsOf(ctx context.Context, t *testing.T, c *containers.Container) string {
	t.Helper()
	res, err := c.Exec(ctx, "ip", "-4", "-o", "addr", "show")
	require.NoError(t, err)
	require.Zero(t, res.ExitCode, res.Stderr)
	return res.Stdout
}

func TestStaticIPAndIPAM(t *testing.T) {
	containers.RequireDocker(t)
	t.Parallel()
	a := network.New(t, network.Subnet("10.231.0.0/24"), network.Gateway("10.231.0.254"), network.IPRange("10.231.0.128/25"))
	b := network.New(t, network.Subnet("10.232.0.0/24"))
	info, err := a.Inspect(t.Context())
	require.NoError(t, err)
	require.Len(t, info.Gateways, 1)
	assert.Equal(t, "10.231.0.254", info.Gateways[0].String())

	// A static address on the first network and on a second one (connected after create).
	server := nvWebServer().IP(a, "10.231.0.10").On(a, "web").IP(b, "10.232.0.20").Start(t)
	ips := ipsOf(t.Context(), t, server)
	assert.Contains(t, ips, "inet 10.231.0.10/24")
	assert.Contains(t, ips, "inet 10.232.0.20/24")
	// The engine assigns from the IP range only.
	client := nvSleeper().On(a).On(b).Start(t)
	cip, err := client.IP(t.Context(), a)
	require.NoError(t, err)
	assert.True(t, netip.MustParsePrefix("10.231.0.128/25").Contains(netip.MustParseAddr(cip)), "%s is in the IP range 10.231.0.128/25", cip)
	sip, err := server.IP(t.Context(), a)
	require.NoError(t, err)
	assert.Equal(t, "10.231.0.10", sip)
	nvRequireReaches(t.Context(), t, client, "10.231.0.10", "static address")
	nvRequireReaches(t.Context(), t, client, "10.232.0.20", "static address on the second network")
	nvRequireReaches(t.Context(), t, client, "web", "alias kept beside the address")
	res, err := client.Exec(t.Context(), "ip", "route")
	require.NoError(t, err)
	assert.Contains(t, res.Stdout, "default via 10.231.0.254", "the gateway given")

	// The engine's refusals name the network and the address.
	_, err = nvSleeper().IP(a, "10.231.0.10").Run(t.Context())
	require.ErrorIs(t, err, containers.ErrAddressUnavailable, "the address is taken")
	assert.Contains(t, err.Error(), "ip 10.231.0.10 on "+a.Name())
	assert.Contains(t, err.Error(), "container "+server.Name()+" has it")
	_, err = nvSleeper().IP(a, "10.99.0.1").Run(t.Context())
	require.ErrorIs(t, err, containers.ErrAddressUnavailable, "outside the subnet")
	assert.Contains(t, err.Error(), "ip 10.99.0.1 on "+a.Name()+": address unavailable: not inside the network's subnets (10.231.0.0/24)")
	noSubnet := network.New(t)
	ni, err := noSubnet.Inspect(t.Context())
	require.NoError(t, err)
	inside := ni.Subnets[0].Addr().Next().Next().Next().Next().Next()
	_, err = nvSleeper().IP(noSubnet, inside.String()).Run(t.Context())
	require.Error(t, err, "a network without a subnet of its own")
	assert.Contains(t, err.Error(), "user configured subnets")
}

func TestStaticIPBadInput(t *testing.T) {
	containers.RequireDocker(t)
	bridge, err := network.Lookup(t.Context(), "bridge")
	require.NoError(t, err)
	n := network.New(t, network.Subnet("10.233.0.0/24"))
	for _, tc := range []struct {
		spec containers.Spec
		want string
	}{
		{nvSleeper().IP(nil, "10.0.0.1"), "ip: nil network"},
		{nvSleeper().IP(n, "10.233.0"), `"10.233.0" is not an IP address`},
		{nvSleeper().IP(n, "0.0.0.0"), "0.0.0.0 cannot be a container's address"},
		{nvSleeper().IP(n, "127.0.0.2"), "127.0.0.2 cannot be a container's address"},
		{nvSleeper().IP(n, "10.233.0.5").IP(n, "10.233.0.6"), "10.233.0.6 given, and 10.233.0.5 before it"},
		{nvSleeper().IP(bridge, "172.17.0.50"), "static addresses work only on user-defined networks"},
	} {
		require.Error(t, tc.spec.Err())
		assert.Contains(t, tc.spec.Err().Error(), tc.want)
	}
	// Both families on one network are fine, and so is giving the same address twice.
	assert.NoError(t, nvSleeper().IP(n, "10.233.0.5").IP(n, "fd00:233::5").IP(n, "10.233.0.5").Err())
}

func TestIPAMBadInput(t *testing.T) {
	containers.RequireDocker(t)
	for _, tc := range []struct {
		opts []network.Option
		want string
	}{
		{[]network.Option{network.Gateway("10.234.0.1")}, "Gateway and IPRange need a Subnet"},
		{[]network.Option{network.IPRange("10.234.0.0/25")}, "Gateway and IPRange need a Subnet"},
		{[]network.Option{network.Subnet("10.234.0.0/24"), network.Gateway("10.235.0.1")}, "gateway 10.235.0.1 is not inside subnet 10.234.0.0/24"},
		{[]network.Option{network.Subnet("10.234.0.0/24"), network.Gateway("10.234.0.0")}, "is the network address"},
		{[]network.Option{network.Subnet("10.234.0.0/24"), network.Gateway("10.234.0.255")}, "is the broadcast address"},
		{[]network.Option{network.Subnet("10.234.0.0/24"), network.Gateway("gw")}, `gateway "gw" is not an IP address`},
		{[]network.Option{network.Subnet("10.234.0.0/24"), network.IPRange("10.234.0.0/23")}, "ip range 10.234.0.0/23 is not inside subnet"},
		{[]network.Option{network.Subnet("10.234.0.0/24"), network.IPRange("10.235.0.0/25")}, "ip range 10.235.0.0/25 is not inside subnet"},
		{[]network.Option{network.Subnet("10.234.0.0/24"), network.IPRange("10.234.0.1/25")}, "has host bits set"},
	} {
		n, err := network.Create(t.Context(), tc.opts...)
		if err == nil {
			n.Remove(context.WithoutCancel(t.Context()))
		}
		require.ErrorIs(t, err, network.ErrInvalidOption, tc.want)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// hostServer serves "hello from the host\n" on addr (port 0: any) until the test ends,
// and returns its port.
func hostServer(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the host\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// hostsEntry returns the address /etc/hosts of c gives name, or "".
func hostsEntry(ctx context.Context, t *testing.T, c *containers.Container, name string) string {
	t.Helper()
	res, err := c.Exec(ctx, "cat", "/etc/hosts")
	require.NoError(t, err)
	for _, line := range strings.Split(res.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == name {
			return f[0]
		}
	}
	return ""
}

func TestHostAccess(t *testing.T) {
	containers.RequireDocker(t)
	// The test's own network: its gateway is this machine's address on that bridge.
	n := network.New(t)
	info, err := n.Inspect(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, info.Gateways)
	gw := info.Gateways[0].String()
	port := hostServer(t, gw)

	c := nvSleeper().On(n).HostAccess().Start(t)
	assert.Equal(t, gw, hostsEntry(t.Context(), t, c, containers.HostName))
	route, err := c.Exec(t.Context(), "ip", "route")
	require.NoError(t, err)
	assert.Contains(t, route.Stdout, "default via "+gw+" ", "the gateway is the network's")
	res, err := c.Exec(t.Context(), "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$0" "$1"`, containers.HostName, fmt.Sprint(port))
	require.NoError(t, err)
	assert.Contains(t, res.Stdout, "hello from the host", "stderr: %s", res.Stderr)

	// Without HostAccess the name does not resolve.
	plain := nvSleeper().On(n).Start(t)
	assert.Empty(t, hostsEntry(t.Context(), t, plain, containers.HostName))

	// On the default bridge: the engine's host-gateway, or the bridge's gateway where the
	// engine has no host-gateway. Only /etc/hosts is looked at: no traffic leaves the
	// test's networks.
	bridge, err := network.Lookup(t.Context(), "bridge")
	require.NoError(t, err)
	binfo, err := bridge.Inspect(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, binfo.Gateways)
	d := nvSleeper().HostAccess().Start(t)
	assert.Equal(t, binfo.Gateways[0].String(), hostsEntry(t.Context(), t, d, containers.HostName), "host-gateway")
	restore := containers.WithoutHostGateway()
	e := nvSleeper().HostAccess().Start(t)
	restore()
	assert.Equal(t, binfo.Gateways[0].String(), hostsEntry(t.Context(), t, e, containers.HostName), "without host-gateway")

	h := nvSleeper().Modify(func(_ *container.Config, hc *container.HostConfig) { hc.NetworkMode = "host" }).HostAccess().Start(t)
	assert.Equal(t, "127.0.0.1", hostsEntry(t.Context(), t, h, containers.HostName))

	_, err = nvSleeper().Modify(func(_ *container.Config, hc *container.HostConfig) { hc.NetworkMode = "none" }).HostAccess().Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host access: the container has no network ("none")`)
}

// TestStaticIPOnPickedSubnet uses up the engine's default address pools, so that
// network.New gives a network a subnet of its own choosing; a static address there is
// refused as on a network whose subnet the engine chose, though the engine would take
// it, because the same test fails on a machine whose pools are not used up.
func TestStaticIPOnPickedSubnet(t *testing.T) {
	containers.RequireDocker(t)
	if testimages.IsPodman(t) {
		t.Skip("podman's default pool has 256 subnets: using it up takes minutes (the network package's TestManyNetworksAtOnce does)")
	}
	var picked *network.Network
	var info network.Info
	for i := 0; i < 80 && picked == nil; i++ {
		n := network.New(t)
		ni, err := n.Inspect(t.Context())
		require.NoError(t, err)
		if ni.Labels["org.containertest.subnet-picked"] == "true" {
			picked, info = n, ni
		}
	}
	require.NotNil(t, picked, "80 networks did not use up the engine's default address pools")
	require.Len(t, info.Subnets, 1)
	inside := info.Subnets[0].Addr().Next().Next().Next().Next().Next()
	c, err := nvSleeper().IP(picked, inside.String()).Run(t.Context())
	if err == nil {
		c.Terminate(context.WithoutCancel(t.Context()))
	}
	require.ErrorIs(t, err, containers.ErrAddressUnavailable)
	assert.Contains(t, err.Error(), fmt.Sprintf("ip %s on %s", inside, picked.Name()))
	assert.Contains(t, err.Error(), "user configured subnets")
	assert.Contains(t, err.Error(), "network.Subnet")
}
