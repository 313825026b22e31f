package network_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
)

func TestNewLabelsAndRemovesAtTestEnd(t *testing.T) {
	e := dockerEngine(t)
	var net *network.Network
	t.Run("inner", func(t *testing.T) {
		net = network.New(t, network.Label("team", "storage"))
		info, err := net.Inspect(t.Context())
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		if info.Name != net.Name() || info.ID != net.ID() {
			t.Errorf("Inspect: name, id = %s, %s; want %s, %s", info.Name, info.ID, net.Name(), net.ID())
		}
		if !strings.HasPrefix(net.Name(), "ct-"+engine.SessionID()+"-net-") {
			t.Errorf("Name = %q; want the prefix ct-<session>-net-", net.Name())
		}
		if info.Driver != "bridge" || info.Internal {
			t.Errorf("Inspect: driver %q internal %v; want a bridge that is not internal", info.Driver, info.Internal)
		}
		if len(info.Subnets) == 0 {
			t.Errorf("Inspect: no subnet")
		}
		for k, want := range map[string]string{
			"team":              "storage",
			engine.LabelManaged: "true",
			engine.LabelSession: engine.SessionID(),
			engine.LabelTest:    t.Name(),
			engine.LabelPID:     strconv.Itoa(os.Getpid()),
		} {
			if got := info.Labels[k]; got != want || got == "" {
				t.Errorf("label %s = %q; want %q", k, got, want)
			}
		}
		if !net.Managed() || net.Removed() {
			t.Errorf("Managed, Removed = %v, %v; want true, false", net.Managed(), net.Removed())
		}
	})
	if !net.Removed() {
		t.Errorf("network %s not removed at the end of its test", net.Name())
	}
	_, err := e.Client.NetworkInspect(t.Context(), net.ID(), dnetwork.InspectOptions{})
	if !errdefs.IsNotFound(err) {
		t.Errorf("engine still has network %s after its test: inspect error %v", net.Name(), err)
	}
}

func TestNamesAreUnique(t *testing.T) {
	a, b := network.New(t), network.New(t)
	if a.Name() == b.Name() || a.ID() == b.ID() {
		t.Errorf("two networks share a name or id: %s/%s, %s/%s", a.Name(), a.ID(), b.Name(), b.ID())
	}
}

// TestManyNetworksAtOnce has parallel subtests create 60 networks — more than the
// engine's default address pools hold — and use each from a container: the
// container's own alias resolves through the network's DNS and answers a ping, and its
// address lies in the network's subnet. All 60 are alive at once; then they are
// removed concurrently and none is left.
//
// With -parallel 60 the 60 creations run at the same time; by default as many run at
// once as GOMAXPROCS allows.
func TestManyNetworksAtOnce(t *testing.T) {
	dockerEngine(t)
	const n = 60
	var mu sync.Mutex
	nets := map[string]*network.Network{}
	subnets := map[netip.Prefix]string{}
	// Creating networks is what is tested; the containers that use them are bounded
	// so that -parallel 60 does not start 60 containers at once on a small machine.
	containersAtOnce := make(chan struct{}, 8)
	removeAll := func() []error {
		mu.Lock()
		defer mu.Unlock()
		var wg sync.WaitGroup
		errs := make(chan error, len(nets))
		for _, net := range nets {
			wg.Go(func() { errs <- net.Remove(context.Background()) })
		}
		wg.Wait()
		close(errs)
		var out []error
		for err := range errs {
			if err != nil {
				out = append(out, err)
			}
		}
		return out
	}
	t.Cleanup(func() { removeAll() }) // in case the test stops early

	t.Run("create", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				net, err := network.Create(t.Context())
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				mu.Lock()
				nets[net.Name()] = net
				mu.Unlock()
				info, err := net.Inspect(t.Context())
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
				if len(info.Subnets) != 1 {
					t.Fatalf("network %s has subnets %v; want one", net.Name(), info.Subnets)
				}
				subnet := info.Subnets[0]
				// Only the subnets the framework picked carry the mark Spec.IP looks for.
				if picked := info.Labels[engine.LabelSubnetPicked] == "true"; picked != network.PickedSubnet(net) {
					t.Errorf("network %s with subnet %s: picked label %v, picked by the framework %v", net.Name(), subnet, picked, network.PickedSubnet(net))
				}
				if network.PickedSubnet(net) && subnet.Bits() != 24 {
					t.Errorf("network %s: the framework picked subnet %s; want a /24", net.Name(), subnet)
				}
				mu.Lock()
				for s, other := range subnets {
					if s.Overlaps(subnet) {
						t.Errorf("network %s subnet %s overlaps %s of %s", net.Name(), subnet, s, other)
					}
				}
				subnets[subnet] = net.Name()
				mu.Unlock()

				containersAtOnce <- struct{}{}
				defer func() { <-containersAtOnce }()
				out, code := box{
					net:     net.Name(),
					aliases: []string{"me"},
					cmd:     []string{"sh", "-c", "ip -4 -o addr show eth0 && ping -c1 -W5 me"},
				}.run(t)
				if code != 0 {
					t.Fatalf("container on %s: exit %d:\n%s", net.Name(), code, out)
				}
				f := strings.Fields(out)
				if len(f) < 4 {
					t.Fatalf("container on %s: unexpected output:\n%s", net.Name(), out)
				}
				ip, err := netip.ParsePrefix(f[3])
				if err != nil || !subnet.Contains(ip.Addr()) {
					t.Errorf("container on %s has address %s; want one in %s", net.Name(), f[3], subnet)
				}
			})
		}
	})
	if got := len(sessionNetworks(t)); got != n {
		t.Errorf("%d networks of this session alive at once; want %d", got, n)
	}
	fallback := 0
	for _, net := range nets {
		if network.PickedSubnet(net) {
			fallback++
		}
	}
	t.Logf("%d of %d networks got a fallback /24 subnet", fallback, len(subnets))
	// Docker's default pools hold about 30 networks; podman's hold 256.
	if fallback == 0 && !testimages.IsPodman(t) {
		t.Errorf("no network needed a fallback subnet: the test did not exhaust the engine's default pools")
	}

	if errs := removeAll(); len(errs) > 0 {
		t.Errorf("Remove: %d errors, first: %v", len(errs), errs[0])
	}
	if left := sessionNetworks(t); len(left) != 0 {
		t.Errorf("%d networks left after removing them all, e.g. %s", len(left), left[0].Name)
	}
}

// TestInternal checks that an internal network is made as one, and that what Inspect
// and the engine report of it is true: Docker publishes no port of a container on it,
// podman publishes them and they answer; its containers find each other by name where
// Info.DNS says so (podman's CNI backend runs no DNS on internal networks), and not
// where it does not.
func TestInternal(t *testing.T) {
	internal := network.New(t, network.Internal())
	info, err := internal.Inspect(t.Context())
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if !info.Internal {
		t.Errorf("Inspect: Internal = false")
	}
	// bindings starts a web server on net publishing port 80 and returns its
	// bindings, after checking that each one answers.
	bindings := func(nw *network.Network) int {
		id, name := box{net: nw.Name(), cmd: []string{"httpd", "-f", "-p", "80"}, publish: "80/tcp"}.start(t)
		defer removeBox(t, id)
		c, err := dockerEngine(t).Client.ContainerInspect(t.Context(), id)
		if err != nil {
			t.Fatalf("inspect container: %v", err)
		}
		bs := c.NetworkSettings.Ports["80/tcp"]
		for _, b := range bs {
			if err := answers(t, b.HostIP+":"+b.HostPort); err != nil {
				t.Errorf("%s on %s: binding %s:%s does not answer: %v", name, nw.Name(), b.HostIP, b.HostPort, err)
			}
		}
		return len(bs)
	}
	if n := bindings(internal); n != 0 && !testimages.IsPodman(t) {
		t.Errorf("container on an internal network has %d published bindings of 80/tcp; want none", n)
	}
	if n := bindings(network.New(t)); n == 0 {
		t.Errorf("container on a normal network has no published binding of 80/tcp")
	}
	out, code := box{net: internal.Name(), aliases: []string{"me"}, cmd: []string{"ping", "-c1", "-W5", "me"}}.run(t)
	if info.DNS && code != 0 {
		t.Errorf("ping own alias on an internal network with DNS: exit %d:\n%s", code, out)
	}
	if !info.DNS && !strings.Contains(out, "bad address") {
		t.Errorf("Info.DNS is false, but own alias on the internal network resolved: exit %d:\n%s", code, out)
	}
	if !info.DNS && !testimages.IsPodman(t) {
		t.Errorf("Info.DNS false on Docker, whose embedded DNS serves internal networks")
	}
}

// answers reports whether an HTTP server answers at hostport (a published port on
// this machine).
func answers(t testing.TB, hostport string) error {
	t.Helper()
	var err error
	for range 50 {
		var resp *http.Response
		if resp, err = http.Get("http://" + hostport + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func TestSubnet(t *testing.T) {
	const cidr = "10.213.7.0/24"
	net := network.New(t, network.Subnet(cidr))
	info, err := net.Inspect(t.Context())
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if len(info.Subnets) != 1 || info.Subnets[0].String() != cidr {
		t.Errorf("Inspect: subnets %v; want [%s]", info.Subnets, cidr)
	}
	out, code := box{net: net.Name(), cmd: []string{"ip", "-4", "-o", "addr", "show", "eth0"}}.run(t)
	if code != 0 || !strings.Contains(out, "10.213.7.") {
		t.Errorf("container address: exit %d, %s; want one in %s", code, out, cidr)
	}

	_, err = network.Create(t.Context(), network.Subnet("10.213.7.128/25"))
	if err == nil {
		t.Fatalf("Create with a subnet inside %s of %s succeeded; want an overlap error", cidr, net.Name())
	}
	if !strings.Contains(err.Error(), net.Name()) || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlap error %q does not name the other network %s", err, net.Name())
	}
	if got := len(sessionNetworks(t)); got != 1 {
		t.Errorf("%d networks of this session after a failed Create; want 1", got)
	}
}

func TestInvalidOptions(t *testing.T) {
	dockerEngine(t)
	for _, tc := range []struct {
		opt  network.Option
		want string
	}{
		{network.Subnet("not-a-cidr"), `subnet "not-a-cidr" is not in CIDR notation`},
		{network.Subnet("10.20.0.0"), `subnet "10.20.0.0" is not in CIDR notation`},
		{network.Subnet("10.20.0.0/33"), `subnet "10.20.0.0/33" is not in CIDR notation`},
		{network.Subnet("10.20.0.5/24"), `has host bits set; did you mean 10.20.0.0/24?`},
		{network.Subnet("10.20.0.0/31"), `leaves no room for containers: use /30 or shorter`},
		{network.Subnet("::ffff:10.20.0.0/120"), `IPv4-mapped`},
		{network.Label("", "x"), `empty label key`},
		{network.Label("org.containertest.session", "x"), `reserved for the framework`},
		{network.Driver(" "), `empty driver name`},
		{network.DriverOpt("", "x"), `empty driver option key`},
	} {
		n, err := network.Create(t.Context(), tc.opt)
		if err == nil {
			n.Remove(context.Background())
			t.Errorf("Create succeeded; want an error containing %q", tc.want)
			continue
		}
		if !errors.Is(err, network.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) ||
			!strings.HasPrefix(err.Error(), "create network: ") {
			t.Errorf("Create: %v; want ErrInvalidOption and %q", err, tc.want)
		}
	}
	// The engine rejects what only it can check.
	if _, err := network.Create(t.Context(), network.Driver("no-such-driver")); err == nil ||
		!strings.Contains(err.Error(), "no-such-driver") {
		t.Errorf("Create with an unknown driver: %v; want an error naming the driver", err)
	}
	if left := sessionNetworks(t); len(left) != 0 {
		t.Errorf("failed Creates left network %s", left[0].Name)
	}
}

// TestDriverOpt checks that a driver option takes effect, or that Create refuses it
// when the engine would drop it (podman keeps the MTU, under its own name, and drops
// enable_icc).
func TestDriverOpt(t *testing.T) {
	mtu := network.New(t, network.DriverOpt("com.docker.network.driver.mtu", "1400"))
	out, code := box{net: mtu.Name(), cmd: []string{"cat", "/sys/class/net/eth0/mtu"}}.run(t)
	if code != 0 || strings.TrimSpace(out) != "1400" {
		t.Errorf("eth0's MTU on a network made with mtu 1400: exit %d, %q", code, out)
	}

	const icc = "com.docker.network.bridge.enable_icc"
	isolated, err := network.Create(t.Context(), network.DriverOpt(icc, "false"))
	if err != nil {
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), icc+"=false") {
			t.Fatalf("Create with %s=false: %v; want it kept or ErrUnsupported naming it", icc, err)
		}
		if left := sessionNetworks(t); len(left) != 1 {
			t.Errorf("%d networks of this session after a refused driver option; want 1 (%s)", len(left), mtu.Name())
		}
		t.Logf("the engine drops %s: %v", icc, err)
		return
	}
	t.Cleanup(func() { isolated.Remove(context.Background()) })
	info, err := isolated.Inspect(t.Context())
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if info.Options[icc] != "false" {
		t.Errorf("driver options %v; want %s=false", info.Options, icc)
	}
	// It takes effect: containers on the network do not reach each other.
	box{net: isolated.Name(), aliases: []string{"peer"}, cmd: []string{"sleep", "60"}}.start(t)
	if out, code := (box{net: isolated.Name(), cmd: []string{"ping", "-c1", "-W2", "peer"}}.run(t)); code == 0 {
		t.Errorf("ping across a network with %s=false succeeded:\n%s", icc, out)
	}
}

func TestRemoveInUse(t *testing.T) {
	ctx := t.Context()
	dockerEngine(t) // skips without an engine
	net, err := network.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { net.Remove(context.Background()) })
	id, name := box{net: net.Name(), cmd: []string{"sleep", "60"}}.start(t)

	err = net.Remove(ctx)
	if !errors.Is(err, network.ErrInUse) {
		t.Fatalf("Remove with container %s attached: %v; want ErrInUse", name, err)
	}
	if !strings.Contains(err.Error(), name) || !strings.HasPrefix(err.Error(), "remove network "+net.Name()+": ") {
		t.Errorf("Remove: %q; want it to name network %s and container %s", err, net.Name(), name)
	}
	if net.Removed() {
		t.Errorf("Removed() after a failed Remove")
	}
	info, err := net.Inspect(ctx)
	if err != nil || len(info.Containers) != 1 || info.Containers[0] != name {
		t.Errorf("Inspect: containers %v, %v; want [%s]", info.Containers, err, name)
	}

	removeBox(t, id)
	if err := net.Remove(ctx); err != nil {
		t.Fatalf("Remove after the container left: %v", err)
	}
	if err := net.Remove(ctx); err != nil {
		t.Errorf("second Remove: %v; want nil", err)
	}
	if !net.Removed() {
		t.Errorf("Removed() = false after Remove")
	}
	if _, err := net.Inspect(ctx); !errors.Is(err, network.ErrRemoved) {
		t.Errorf("Inspect after Remove: %v; want ErrRemoved", err)
	}
	// The engine refuses a removed network too.
	_, err = dockerEngine(t).Client.NetworkInspect(ctx, net.ID(), dnetwork.InspectOptions{})
	if !errdefs.IsNotFound(err) {
		t.Errorf("engine still knows network %s: %v", net.Name(), err)
	}
}

func TestRemovedBehindItsBack(t *testing.T) {
	ctx := t.Context()
	dockerEngine(t) // skips without an engine
	net, err := network.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := dockerEngine(t).Client.NetworkRemove(ctx, net.ID()); err != nil {
		t.Fatalf("remove with the raw client: %v", err)
	}
	if _, err := net.Inspect(ctx); !errors.Is(err, network.ErrRemoved) {
		t.Errorf("Inspect: %v; want ErrRemoved", err)
	}
	if err := net.Remove(ctx); err != nil {
		t.Errorf("Remove of a network already gone: %v; want nil", err)
	}
}

func TestLookup(t *testing.T) {
	ctx := t.Context()
	dockerEngine(t)
	bridge, err := network.Lookup(ctx, "bridge")
	if err != nil {
		t.Fatalf("Lookup(bridge): %v", err)
	}
	if bridge.Name() != "bridge" || bridge.ID() == "" || bridge.Managed() {
		t.Errorf("Lookup(bridge) = %s %q managed %v", bridge.Name(), bridge.ID(), bridge.Managed())
	}
	if err := bridge.Remove(ctx); !errors.Is(err, network.ErrNotManaged) {
		t.Errorf("Remove(bridge): %v; want ErrNotManaged", err)
	}
	if _, err := network.Lookup(ctx, "ct-no-such-network"); !errors.Is(err, network.ErrNotFound) {
		t.Errorf("Lookup of a missing network: %v; want ErrNotFound", err)
	}
	own := network.New(t)
	found, err := network.Lookup(ctx, own.Name())
	if err != nil || found.ID() != own.ID() {
		t.Errorf("Lookup(%s) = %v, %v; want id %s", own.Name(), found, err, own.ID())
	}
}
