// Package network creates ephemeral user-defined networks on which containers reach
// each other by name.
//
// A network made by New belongs to a test: it carries the framework's labels, has a
// unique name, and is removed when the test ends, after the test's containers. Create
// is the same without a testing.TB; the caller then owns Remove.
//
//	func TestPartition(t *testing.T) {
//		net := network.New(t, network.Internal())
//		db := containers.Image("busybox:latest").Cmd("sleep", "60").On(net, "db").Start(t)
//		app := containers.Image("busybox:latest").Cmd("sleep", "60").On(net, "app").Start(t)
//		// app reaches db as "db" (alias) or by db.Name(); nothing reaches the outside.
//		_, _ = db, app
//	}
//
// Networks are user-defined bridges by default. An engine has a limited set of default
// address pools (about 30 networks with Docker's defaults); when they are used up,
// Create picks a free /24 from the private ranges itself, so parallel tests never fail
// for want of an address pool.
package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/reaper"
	"github.com/containertest/containertest/internal/scope"
)

// Errors that callers can test for with errors.Is.
var (
	// ErrInUse is wrapped by Remove when containers are still attached to the network;
	// the message names them.
	ErrInUse = errors.New("network in use")
	// ErrRemoved is wrapped by operations on a network that was removed, by Remove or by
	// someone else.
	ErrRemoved = errors.New("network removed")
	// ErrNotFound is wrapped by Lookup when the engine has no such network.
	ErrNotFound = errors.New("network not found")
	// ErrNotManaged is wrapped by Remove on a network that Lookup found: the framework
	// only removes what it created.
	ErrNotManaged = errors.New("network not created by containertest")
	// ErrInvalidOption is wrapped when an Option is malformed (a bad subnet, say).
	ErrInvalidOption = errors.New("invalid network option")
	// ErrDockerUnavailable is wrapped when no Docker engine answers.
	ErrDockerUnavailable = engine.ErrUnavailable
)

// A Network is a user-defined network, made by New or Create or found by Lookup.
// Its methods are safe for concurrent use.
type Network struct {
	id, name string
	// managed networks were created by this package and are removed by Remove.
	managed bool
	// reserved is the subnet this process picked for the network when the engine's
	// default pools were exhausted (invalid otherwise); released on Remove.
	reserved netip.Prefix

	mu      sync.Mutex
	removed bool
}

// ID is the engine's id of the network.
func (n *Network) ID() string { return n.id }

// Name is the network's unique name.
func (n *Network) Name() string { return n.name }

// String returns the network's name.
func (n *Network) String() string { return n.name }

// Removed reports whether Remove has removed the network. A network removed behind
// the framework's back is only noticed by Inspect (ErrRemoved) or by the engine.
func (n *Network) Removed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.removed
}

// Managed reports whether the network was created by this package (New or Create)
// rather than found by Lookup.
func (n *Network) Managed() bool { return n.managed }

// Info describes a network as the engine sees it.
type Info struct {
	ID     string
	Name   string
	Driver string
	// Internal networks have no route out of the network.
	Internal   bool
	Attachable bool
	IPv6       bool
	// Subnets and Gateways come from the network's IPAM configuration. A bridge
	// network's gateway is the host's address on it; when the engine chose it (no
	// Gateway option) it reports none, and Gateways holds the default it chose, the
	// subnet's first address.
	Subnets  []netip.Prefix
	Gateways []netip.Addr
	Labels   map[string]string
	// Options are the driver options.
	Options map[string]string
	// DNS reports whether the engine resolves the names and aliases of the network's
	// containers for each other: on Docker on every network but the default
	// "bridge"; on podman where the network has DNS enabled (its CNI backend has none
	// on internal networks).
	DNS bool
	// Containers names the running containers attached to the network, sorted.
	Containers []string
}

// New creates a network for the duration of t and removes it when t ends, after the
// test's containers. It fails the test if the network cannot be created, and skips it
// when no Docker engine answers unless CONTAINERTEST_REQUIRE_DOCKER=1.
func New(t testing.TB, opts ...Option) *Network {
	t.Helper()
	n, err := create(t.Context(), t.Name(), opts)
	if err != nil {
		engine.FailOrSkip(t, "network", err)
	}
	scope.Add(t, scope.Resource{
		Kind:   scope.Network,
		Name:   "network " + n.name,
		ID:     n.id,
		Remove: n.Remove,
	})
	return n
}

// Create creates a network that the caller removes with Remove.
func Create(ctx context.Context, opts ...Option) (*Network, error) {
	return create(ctx, "", opts)
}

// Lookup finds an existing network by name or id, for instance the engine's default
// "bridge" or a network made by docker compose. The framework never removes a network
// found this way.
func Lookup(ctx context.Context, nameOrID string) (*Network, error) {
	e, err := engine.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("look up network %s: %w", nameOrID, err)
	}
	res, err := e.Client.NetworkInspect(ctx, nameOrID, dnetwork.InspectOptions{})
	if err != nil {
		if errdefs.IsNotFound(err) {
			if nameOrID == "host" || nameOrID == "none" {
				// Podman has these network modes but lists no network objects for
				// them; a container joins them by name.
				return &Network{id: nameOrID, name: nameOrID}, nil
			}
			return nil, fmt.Errorf("look up network %s: %w", nameOrID, ErrNotFound)
		}
		return nil, fmt.Errorf("look up network %s: %w", nameOrID, err)
	}
	return &Network{id: res.ID, name: res.Name}, nil
}

// seq numbers the networks of this process.
var seq atomic.Int64

func nextName() string {
	return fmt.Sprintf("ct-%s-net-%d", engine.SessionID(), seq.Add(1))
}

func create(ctx context.Context, test string, opts []Option) (*Network, error) {
	n, c, err := createOnEngine(ctx, test, opts)
	if err != nil || len(c.driverOpts) == 0 {
		return n, err
	}
	if err := n.checkDriverOpts(ctx, c.driverOpts); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := n.Remove(rctx); rerr != nil {
			err = fmt.Errorf("%w (and removing it: %w)", err, rerr)
		}
		return nil, err
	}
	return n, nil
}

// driverOptAliases are the names under which podman keeps the Docker driver options
// it translates.
var driverOptAliases = map[string]string{"com.docker.network.driver.mtu": "mtu"}

// checkDriverOpts fails when the engine dropped a driver option it was given: podman
// 4.3 accepts and ignores those it does not know (com.docker.network.bridge.enable_icc
// among them), and a network without the isolation or setting a test asked for must
// not pass for one with it. The engine reports the options it keeps.
func (n *Network) checkDriverOpts(ctx context.Context, want map[string]string) error {
	info, err := n.Inspect(ctx)
	if err != nil {
		return fmt.Errorf("create network %s: check driver options: %w", n.name, err)
	}
	var dropped []string
	for k, v := range want {
		got, ok := info.Options[k]
		if !ok {
			got, ok = info.Options[driverOptAliases[k]]
		}
		if !ok || got != v {
			dropped = append(dropped, k+"="+v)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	slices.Sort(dropped)
	return fmt.Errorf("create network %s: driver option %s: %w: the engine made the network without it (podman drops the driver options it does not know)",
		n.name, strings.Join(dropped, ", "), errors.ErrUnsupported)
}

func createOnEngine(ctx context.Context, test string, opts []Option) (*Network, config, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.err == nil {
		c.err = c.checkIPAM()
	}
	if c.err != nil {
		return nil, c, fmt.Errorf("create network: %w", c.err)
	}
	e, labels, err := reaper.Begin(ctx, c.labels, test)
	if err != nil {
		return nil, c, fmt.Errorf("create network: %w", err)
	}
	name := nextName()
	o := dnetwork.CreateOptions{
		Driver:     c.driver,
		Internal:   c.internal,
		Attachable: c.attachable,
		Options:    c.driverOpts,
		Labels:     labels,
	}
	if o.Driver == "" {
		o.Driver = "bridge"
	}
	if c.subnet.IsValid() {
		ic := dnetwork.IPAMConfig{Subnet: c.subnet.String()}
		if c.gateway.IsValid() {
			ic.Gateway = c.gateway.String()
		}
		if c.ipRange.IsValid() {
			ic.IPRange = c.ipRange.String()
		}
		o.IPAM = &dnetwork.IPAM{Config: []dnetwork.IPAMConfig{ic}}
		if c.subnet.Addr().Is6() {
			o.EnableIPv6 = &[]bool{true}[0]
		}
		resp, err := e.Client.NetworkCreate(ctx, name, o)
		if err != nil {
			if isOverlap(err) {
				return nil, c, fmt.Errorf("create network %s: subnet %s %s: %w", name, c.subnet, overlapping(ctx, e.Client, c.subnet), err)
			}
			return nil, c, fmt.Errorf("create network %s: %w", name, err)
		}
		return &Network{id: resp.ID, name: name, managed: true}, c, nil
	}

	if !pools.exhaustedRecently() {
		resp, err := e.Client.NetworkCreate(ctx, name, o)
		if err == nil {
			return &Network{id: resp.ID, name: name, managed: true}, c, nil
		}
		if !isPoolExhausted(err) {
			return nil, c, fmt.Errorf("create network %s: %w", name, err)
		}
		pools.markExhausted()
	}
	id, subnet, err := createWithFreeSubnet(ctx, e, name, o)
	if err != nil {
		return nil, c, fmt.Errorf("create network %s: %w", name, err)
	}
	return &Network{id: id, name: name, managed: true, reserved: subnet}, c, nil
}

// overlapping names the networks whose subnets overlap p, for an error message.
func overlapping(ctx context.Context, cli engine.API, p netip.Prefix) string {
	nets, err := cli.NetworkList(ctx, dnetwork.ListOptions{})
	if err != nil {
		return "overlaps an existing network"
	}
	var names []string
	for _, n := range nets {
		for _, s := range subnetsOf(n.IPAM) {
			if s.Overlaps(p) {
				names = append(names, fmt.Sprintf("%s (%s)", n.Name, s))
			}
		}
	}
	if len(names) == 0 {
		return "overlaps an existing network"
	}
	return "overlaps network " + strings.Join(names, ", ")
}

func subnetsOf(ipam dnetwork.IPAM) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range ipam.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// removeRetry bounds how long Remove waits for endpoints that the engine is still
// tearing down (a container was just removed) before reporting ErrInUse.
const removeRetry = 3 * time.Second

// Remove removes the network. Removing a removed network, or one already gone from the
// engine, is not an error. While containers are attached it fails with an error that
// wraps ErrInUse and names them.
func (n *Network) Remove(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.removed {
		return nil
	}
	if !n.managed {
		return fmt.Errorf("remove network %s: %w", n.name, ErrNotManaged)
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return fmt.Errorf("remove network %s: %w", n.name, err)
	}
	start := time.Now()
	delay := 20 * time.Millisecond
	for {
		// By name, not id: podman 4.3 removes a network named by its id with
		// containers still attached, leaving them on a network that is gone.
		err := e.Client.NetworkRemove(ctx, n.name)
		if err == nil || errdefs.IsNotFound(err) {
			n.removed = true
			pools.release(n.reserved)
			return nil
		}
		if !isInUse(err) {
			return fmt.Errorf("remove network %s: %w", n.name, err)
		}
		names := attached(ctx, e.Client, n.id)
		if len(names) > 0 {
			return fmt.Errorf("remove network %s: %w by containers %s", n.name, ErrInUse, strings.Join(names, ", "))
		}
		if time.Since(start) > removeRetry {
			return fmt.Errorf("remove network %s: %w: %w", n.name, ErrInUse, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove network %s: %w", n.name, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// attached names the containers attached to network id: those with an endpoint on it
// and those, stopped or not, configured to join it.
func attached(ctx context.Context, cli engine.API, id string) []string {
	var names []string
	if res, err := cli.NetworkInspect(ctx, id, dnetwork.InspectOptions{}); err == nil {
		for _, ep := range res.Containers {
			names = append(names, ep.Name)
		}
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("network", id)),
	})
	if err == nil {
		for _, c := range list {
			if len(c.Names) > 0 {
				names = append(names, strings.TrimPrefix(c.Names[0], "/"))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Inspect returns what the engine knows about the network. For a removed network it
// returns an error wrapping ErrRemoved.
func (n *Network) Inspect(ctx context.Context) (Info, error) {
	if n.Removed() {
		return Info{}, fmt.Errorf("inspect network %s: %w", n.name, ErrRemoved)
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("inspect network %s: %w", n.name, err)
	}
	res, err := e.Client.NetworkInspect(ctx, n.id, dnetwork.InspectOptions{})
	if err != nil {
		if errdefs.IsNotFound(err) {
			return Info{}, fmt.Errorf("inspect network %s: %w", n.name, ErrRemoved)
		}
		return Info{}, fmt.Errorf("inspect network %s: %w", n.name, err)
	}
	info := Info{
		ID:         res.ID,
		Name:       res.Name,
		Driver:     res.Driver,
		Internal:   res.Internal,
		Attachable: res.Attachable,
		IPv6:       res.EnableIPv6,
		Subnets:    subnetsOf(res.IPAM),
		Labels:     res.Labels,
		Options:    res.Options,
	}
	for _, c := range res.IPAM.Config {
		if a, err := netip.ParseAddr(c.Gateway); err == nil {
			info.Gateways = append(info.Gateways, a)
		} else if p, err := netip.ParsePrefix(c.Subnet); err == nil && c.Gateway == "" && res.Driver == "bridge" && res.IPAM.Driver == "default" {
			// The engine reports no gateway it chose itself: its default IPAM driver
			// gives a bridge network the subnet's first address. (Podman reports
			// "<nil>" for an internal network, which has none.)
			info.Gateways = append(info.Gateways, p.Masked().Addr().Next())
		}
	}
	for _, ep := range res.Containers {
		info.Containers = append(info.Containers, ep.Name)
	}
	slices.Sort(info.Containers)
	if info.DNS, err = hasDNS(ctx, e, res); err != nil {
		return Info{}, fmt.Errorf("inspect network %s: %w", n.name, err)
	}
	return info, nil
}

// hasDNS reports whether the engine runs name resolution on network res (see Info.DNS).
func hasDNS(ctx context.Context, e *engine.Engine, res dnetwork.Inspect) (bool, error) {
	podman, err := e.Podman(ctx)
	if err != nil {
		return false, err
	}
	if !podman {
		// Docker's embedded DNS serves every user-defined network.
		return res.Name != "bridge" && res.Driver != "host" && res.Driver != "null", nil
	}
	var lp struct {
		DNSEnabled bool `json:"dns_enabled"`
	}
	if err := e.Libpod(ctx, "/networks/"+url.PathEscape(res.ID)+"/json", &lp); err != nil {
		return false, err
	}
	return lp.DNSEnabled, nil
}

// isPoolExhausted reports whether err is the engine saying that its default address
// pools are used up.
func isPoolExhausted(err error) bool {
	s := err.Error()
	return strings.Contains(s, "could not find an available, non-overlapping") ||
		strings.Contains(s, "all predefined address pools have been fully subnetted")
}

// isOverlap reports whether err is the engine refusing a subnet that overlaps another
// network's.
func isOverlap(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Pool overlaps") || strings.Contains(s, "networks have overlapping") ||
		strings.Contains(s, "overlaps with") ||
		strings.Contains(s, "is already used on the host or by another config") // podman
}

// isInUse reports whether err is the engine refusing to remove a network with endpoints.
func isInUse(err error) bool {
	s := err.Error()
	return strings.Contains(s, "active endpoints") || strings.Contains(s, "network is being used") ||
		errdefs.IsPermissionDenied(err) || errdefs.IsConflict(err)
}
