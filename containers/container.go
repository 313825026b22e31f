package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/containertest/containertest/internal/engine"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

// A Container is a started container. Its methods are safe for concurrent use.
type Container struct {
	eng   *engine.Engine
	spec  Spec
	id    string
	name  string
	image string
	t     testing.TB

	removeNow  func(context.Context) error
	logs       logState // see logs.go
	persistent bool     // writes to a named volume or bind mount (see teardownGrace)

	mu       sync.Mutex
	ports    map[string]int
	imageID  string
	pid      int  // the main process's pid as the engine sees it; 0 when stopped
	hostNet  bool // on the host's network: nothing is published, ports are the host's
	status   waitwire.Status
	changed  chan struct{}
	gone     bool
	health   *healthSupervisor // podman only: see podmanhealth.go
	noHealth bool              // its removal began: no health supervisor starts any more

	firstStartMu sync.Mutex // held by the first Start of a created container
	created      bool       // made by Create and not started yet (see lifecycle.go)
	terminating  bool       // the terminate hooks have run or are running
}

var (
	_ wait.Target           = (*Container)(nil)
	_ waitwire.PortLister   = (*Container)(nil)
	_ waitwire.Tailer       = (*Container)(nil)
	_ waitwire.HealthLogger = (*Container)(nil)
	_ waitwire.Observed     = waitTarget{}
	_ waitwire.Listening    = waitTarget{}
	_ waitwire.Reinspector  = waitTarget{}
)

func init() {
	waitwire.Enrich = func(t any) any {
		if c, ok := t.(*Container); ok {
			return waitTarget{c}
		}
		return t
	}
}

// waitTarget is the container as the strategies of package wait see it: beside the
// methods of wait.Target, its state from the engine's events and its socket table,
// which only the framework's strategies use (see internal/waitwire).
type waitTarget struct{ *Container }

func (w waitTarget) Status() waitwire.Status                  { return w.state() }
func (w waitTarget) StatusChanged() <-chan struct{}           { return w.stateChanged() }
func (w waitTarget) Listeners(port string) waitwire.Listeners { return w.listeners(port) }
func (w waitTarget) Reinspect(ctx context.Context) (waitwire.Status, error) {
	return w.reinspect(ctx)
}

// WaitFor waits until s says the container is ready, as Start does with the strategies
// of Spec.WaitFor: to wait again after a test broke and repaired what the container
// needs, or for a container started without a strategy. It ends at ctx's deadline or
// after the spec's StartTimeout (CONTAINERTEST_START_TIMEOUT, or 60 s, when ctx has no
// deadline and the spec set none), whichever comes first, and at once when the
// container exits, unless s waits for that (ForExit). The error wraps wait.ErrNotReady
// and ends with the container's last log lines.
func (c *Container) WaitFor(ctx context.Context, s wait.Strategy) error {
	if s == nil {
		return fmt.Errorf("containers: wait for container %s: nil strategy", c.name)
	}
	if err := c.ready(ctx, s); err != nil {
		return fmt.Errorf("wait for container %s: %w", c.name, err)
	}
	return nil
}

// ready runs s on the container within the spec's start timeout.
func (c *Container) ready(ctx context.Context, s wait.Strategy) error {
	return waitwire.Ready(ctx, c, s, c.spec.startTimeout)
}

func newContainer(eng *engine.Engine, s Spec, id, name, image string) *Container {
	return &Container{eng: eng, spec: s, id: id, name: name, image: image, changed: make(chan struct{})}
}

// ExecResult is the outcome of Exec: the exit code and the separate output streams.
type ExecResult = wait.ExecResult

// ID is the container's engine id.
func (c *Container) ID() string { return c.id }

// Name is the container's name (without the leading slash).
func (c *Container) Name() string { return c.name }

// Host is the host at which published ports are reached: 127.0.0.1 for a local engine.
func (c *Container) Host() string { return c.eng.Host }

// LookupPort returns the host port on which the container port is published, or an
// error naming the exposed ports when it is not. "8080" means "8080/tcp".
func (c *Container) LookupPort(port string) (int, error) {
	p, err := normalizePort(port)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if hp, ok := c.ports[p]; ok {
		return hp, nil
	}
	if slices.Contains(c.spec.exposed, p) {
		return 0, fmt.Errorf("port %s of container %s is exposed but not published (is the container running?)", p, c.name)
	}
	return 0, fmt.Errorf("port %s was never exposed by container %s (exposed: %s); add Expose(%q) to the spec",
		p, c.name, exposedList(c.spec.exposed), port)
}

func exposedList(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}

// ExposedPorts lists the container ports the spec exposed ("8080/tcp"), in order.
func (c *Container) ExposedPorts() []string { return slices.Clone(c.spec.exposed) }

// MappedPort returns the host port on which the container port is published. Asking
// for a port that was never exposed is a programming error: MappedPort panics with a
// message that names the port and the exposed ones. Ports can change on Restart.
func (c *Container) MappedPort(port string) int {
	hp, err := c.LookupPort(port)
	if err != nil {
		panic("containers: " + err.Error())
	}
	return hp
}

// Endpoint returns "host:port" for the container port, e.g. "127.0.0.1:49153".
// It panics like MappedPort.
func (c *Container) Endpoint(port string) string {
	return net.JoinHostPort(c.Host(), strconv.Itoa(c.MappedPort(port)))
}

// URL returns scheme://host:port for the container port, e.g. "http://127.0.0.1:49153".
// It panics like MappedPort.
func (c *Container) URL(scheme, port string) string {
	return scheme + "://" + c.Endpoint(port)
}

// IP returns the container's address on net, or on the default bridge network when net
// is nil; "" when it is not attached. It asks the engine, so it is current after a
// Restart.
func (c *Container) IP(ctx context.Context, net *network.Network) (string, error) {
	info, err := c.eng.Client.ContainerInspect(ctx, c.id)
	if err != nil {
		return "", c.wrap("inspect", err)
	}
	name := "bridge"
	if net != nil {
		name = net.Name()
	}
	if info.NetworkSettings != nil {
		if ep, ok := info.NetworkSettings.Networks[name]; ok && ep != nil {
			return ep.IPAddress, nil
		}
	}
	return "", fmt.Errorf("container %s is not attached to network %s", c.name, name)
}

// wrap makes "verb container NAME: cause" errors and classifies a stopped container.
func (c *Container) wrap(verb string, err error) error {
	return fmt.Errorf("%s container %s: %w", verb, c.name, err)
}

// state is the container's state as last reported by the engine's event stream.
func (c *Container) state() waitwire.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// reinspect asks the engine whether the run that the events say exited was killed for
// want of memory, which its oom event, late on a busy stream, has not said yet.
func (c *Container) reinspect(ctx context.Context) (waitwire.Status, error) {
	info, err := c.eng.Client.ContainerInspect(ctx, c.id)
	if err != nil {
		return c.state(), c.wrap("inspect", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := info.State; st != nil && st.OOMKilled && !st.Running && c.status.Exited && !c.status.OOMKilled {
		c.status.OOMKilled = true
		c.notifyLocked()
	}
	return c.status, nil
}

// stateChanged returns a channel that is closed at the next change of state.
func (c *Container) stateChanged() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// HealthLog returns the output of the most recent health probe, "" when none ran.
func (c *Container) HealthLog(ctx context.Context) (string, error) {
	info, err := c.eng.Client.ContainerInspect(ctx, c.id)
	if err != nil {
		return "", c.wrap("inspect", err)
	}
	if info.State == nil || info.State.Health == nil || len(info.State.Health.Log) == 0 {
		return "", nil
	}
	l := info.State.Health.Log
	return strings.TrimSpace(l[len(l)-1].Output), nil
}

// Connect attaches the running container to net, with optional aliases.
func (c *Container) Connect(ctx context.Context, net *network.Network, aliases ...string) error {
	if net == nil {
		return c.wrap("connect", errors.New("nil network"))
	}
	if net.Removed() {
		return fmt.Errorf("connect container %s to network %s: %w", c.name, net.Name(), network.ErrRemoved)
	}
	if len(aliases) > 0 && isDefaultNetwork(net.Name()) {
		return fmt.Errorf("connect container %s to network %s: aliases work only on user-defined networks", c.name, net.Name())
	}
	if err := c.eng.Client.NetworkConnect(ctx, net.ID(), c.id, &dnetwork.EndpointSettings{Aliases: aliases}); err != nil {
		return fmt.Errorf("connect container %s to network %s: %w", c.name, net.Name(), err)
	}
	return nil
}

// Disconnect detaches the container from net: peers on net can no longer reach it.
func (c *Container) Disconnect(ctx context.Context, net *network.Network) error {
	if net == nil {
		return c.wrap("disconnect", errors.New("nil network"))
	}
	if err := c.eng.Client.NetworkDisconnect(ctx, net.ID(), c.id, false); err != nil {
		return fmt.Errorf("disconnect container %s from network %s: %w", c.name, net.Name(), err)
	}
	return nil
}

// absHostPath makes a bind source absolute and checks that it exists.
func absHostPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("bind %s: %w", p, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("bind %s: %w: host path does not exist: %w", p, ErrInvalidSpec, err)
	}
	return abs, nil
}
