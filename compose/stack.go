package compose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"golang.org/x/sync/errgroup"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/internal/engine/docker/nat"
	"github.com/containertest/containertest/internal/reaper"
	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// A Stack is a started Compose project. Its methods are safe for concurrent use.
type Stack struct {
	name     string
	services map[string][]*containers.Container
	networks map[string]*network.Network
	volumes  map[string]*volume.Volume
	external map[string]string // external volumes: key in the file -> engine name

	downOnce sync.Once
	downErr  error
	downed   atomic.Bool
}

// Name is the stack's Compose project name, unique per Up or Run:
// "docker compose -p NAME ps" lists its containers.
func (s *Stack) Name() string { return s.name }

// Services lists the stack's services, sorted.
func (s *Stack) Services() []string { return sortedKeys(s.services) }

// Service returns the (first) container of service. Asking for a service that is
// not in the stack is a programming error: Service panics with a message that names
// the stack's services.
func (s *Stack) Service(service string) *containers.Container {
	cs := s.Replicas(service)
	return cs[0]
}

// Replicas returns every container of service (more than one with scale or
// deploy.replicas), in container-number order. It panics like Service.
func (s *Stack) Replicas(service string) []*containers.Container {
	cs, ok := s.services[service]
	if !ok || len(cs) == 0 {
		panic(fmt.Sprintf("compose: stack %s has no service %q (services: %s)", s.name, service, strings.Join(s.Services(), ", ")))
	}
	return slices.Clone(cs)
}

// Network returns the stack's network of that name in the file ("default" for the
// network docker compose makes when a file names none), or nil.
func (s *Stack) Network(name string) *network.Network { return s.networks[name] }

// Volume returns the stack's volume of that name in the file, or nil (also for an
// external volume, which the stack uses but does not own).
func (s *Stack) Volume(name string) *volume.Volume { return s.volumes[name] }

// Down removes the stack: its containers (concurrently), then its networks, then its
// volumes with their data. A stack started with Up is removed when its test ends;
// Down removes it earlier. Calling Down again returns the first call's result.
func (s *Stack) Down(ctx context.Context) error {
	s.downOnce.Do(func() {
		s.downed.Store(true)
		s.downErr = s.down(ctx)
	})
	return s.downErr
}

func (s *Stack) down(ctx context.Context) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, cs := range s.services {
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Terminate(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, n := range sortedKeys(s.networks) {
		if nw := s.networks[n]; nw.Managed() {
			errs = append(errs, nw.Remove(ctx))
		}
	}
	for _, n := range sortedKeys(s.volumes) {
		errs = append(errs, s.volumes[n].Remove(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("down %s: %w", s.name, err)
	}
	return nil
}

// Up starts the project for the duration of t and returns the stack once every
// service is ready (see the package doc). Everything is removed when t ends. On any
// error the test fails; when no engine answers it is skipped (or fails under
// CONTAINERTEST_REQUIRE_DOCKER=1).
func (p Project) Up(t testing.TB) *Stack {
	t.Helper()
	containers.RequireDocker(t)
	s, err := p.up(t.Context(), t)
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	return s
}

// Run is Up without a test: it returns a ready stack that the caller must remove with
// Down, or an error with nothing left behind.
func (p Project) Run(ctx context.Context) (*Stack, error) {
	return p.up(ctx, nil)
}

// seq numbers the stacks of this process.
var seq atomic.Int64

func uniqueName(prefix string) string {
	sess := strings.ToLower(engine.SessionID())
	if len(sess) > 6 {
		sess = sess[:6]
	}
	return fmt.Sprintf("%s-%s%d", prefix, sess, seq.Add(1))
}

func (p Project) up(ctx context.Context, t testing.TB) (_ *Stack, err error) {
	proj, err := p.load(ctx)
	if err != nil {
		return nil, err
	}
	proj = proj.WithoutUnnecessaryResources()
	proj.Name = uniqueName(proj.Name)
	if err := p.validate(proj); err != nil {
		return nil, err
	}
	s := &Stack{
		name:     proj.Name,
		services: map[string][]*containers.Container{},
		networks: map[string]*network.Network{},
		volumes:  map[string]*volume.Volume{},
		external: map[string]string{},
	}
	starting := false // set once containers may exist
	if t != nil {
		// Registered before the stack's first resource, so it runs after the
		// containers' own teardown, which decides what is kept and reports it.
		t.Cleanup(func() { s.reportKept(t, proj) })
	}
	defer func() {
		if err == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		// Orphans first: they may hold the stack's networks and volumes.
		if starting {
			if derr := s.removeOrphans(rctx); derr != nil {
				err = fmt.Errorf("%w (and removing the stack: %v)", err, derr)
			}
		}
		if t == nil {
			if derr := s.Down(rctx); derr != nil {
				err = fmt.Errorf("%w (and removing the stack: %v)", err, derr)
			}
		}
	}()
	if err := s.makeResources(ctx, t, proj); err != nil {
		return nil, err
	}
	starting = true
	if err := p.startServices(ctx, t, proj, s); err != nil {
		return nil, fmt.Errorf("up %s: %w", proj.Name, err)
	}
	return s, nil
}

// removeOrphans removes the containers of the stack's project that the stack does not
// know: one whose create was cancelled (another service had failed) while the engine
// made it anyway. The engine may finish such a create after the request was
// abandoned, so it looks again until it has found none for a second.
func (s *Stack) removeOrphans(ctx context.Context) error {
	e, err := engine.Get(ctx)
	if err != nil {
		return err
	}
	quiet := time.Now().Add(time.Second)
	for {
		n, err := s.removeOrphansOnce(ctx, e)
		if err != nil {
			return err
		}
		if n > 0 {
			quiet = time.Now().Add(time.Second)
		}
		if time.Now().After(quiet) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Stack) removeOrphansOnce(ctx context.Context, e *engine.Engine) (int, error) {
	known := map[string]bool{}
	for _, cs := range s.services {
		for _, c := range cs {
			known[c.ID()] = true
		}
	}
	f := filters.NewArgs(filters.Arg("label", labelProject+"="+s.name))
	cs, err := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list containers of %s: %w", s.name, err)
	}
	var errs []error
	n := 0
	for _, c := range cs {
		if known[c.ID] {
			continue
		}
		n++
		if err := e.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", strings.Join(c.Names, ","), err))
		}
	}
	return n, errors.Join(errs...)
}

// reportKept tells how to look at a stack that CONTAINERTEST_KEEP keeps, with the
// Compose command line: the containers carry Compose's labels.
func (s *Stack) reportKept(t testing.TB, proj *types.Project) {
	if s.downed.Load() || !reaper.KeepMode().Keeps(t.Failed()) {
		return
	}
	n := 0
	for _, cs := range s.services {
		n += len(cs)
	}
	if n == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "compose: kept stack %s (%d containers):\n", s.name, n)
	fmt.Fprintf(&b, "  list:   docker compose -p %s ps -a\n", s.name)
	fmt.Fprintf(&b, "  logs:   docker compose -p %s logs\n", s.name)
	fmt.Fprintf(&b, "  remove: docker compose -p %s down -v\n", s.name)
	var files []string
	for _, f := range proj.ComposeFiles {
		files = append(files, "-f "+f)
	}
	fmt.Fprintf(&b, "  (docker-compose 1.x needs the files and their variables: docker-compose -p %s %s ps)\n", s.name, strings.Join(files, " "))
	if t.Failed() || testing.Verbose() {
		t.Log(b.String())
	} else {
		os.Stderr.WriteString(t.Name() + ": " + b.String())
	}
}

// makeResources creates the project's networks and volumes.
func (s *Stack) makeResources(ctx context.Context, t testing.TB, proj *types.Project) error {
	for _, key := range sortedKeys(proj.Networks) {
		nc := proj.Networks[key]
		if nc.External {
			nw, err := network.Lookup(ctx, nc.Name)
			if err != nil {
				return fmt.Errorf("external network %s: %w", key, err)
			}
			s.networks[key] = nw
			continue
		}
		opts := []network.Option{
			network.Label(labelProject, proj.Name),
			network.Label(labelNetwork, key),
		}
		for _, k := range sortedKeys(nc.Labels) {
			opts = append(opts, network.Label(k, nc.Labels[k]))
		}
		if nc.Driver != "" {
			opts = append(opts, network.Driver(nc.Driver))
		}
		for _, k := range sortedKeys(nc.DriverOpts) {
			opts = append(opts, network.DriverOpt(k, nc.DriverOpts[k]))
		}
		if nc.Internal {
			opts = append(opts, network.Internal())
		}
		if nc.Attachable {
			opts = append(opts, network.Attachable())
		}
		switch len(nc.Ipam.Config) {
		case 0:
		case 1:
			opts = append(opts, network.Subnet(nc.Ipam.Config[0].Subnet))
		default:
			return fmt.Errorf("network %s: %w: more than one ipam.config subnet", key, ErrUnsupported)
		}
		if nc.EnableIPv6 != nil && *nc.EnableIPv6 && (len(nc.Ipam.Config) == 0 || !strings.Contains(nc.Ipam.Config[0].Subnet, ":")) {
			return fmt.Errorf("network %s: %w: enable_ipv6 without an IPv6 subnet in ipam.config", key, ErrUnsupported)
		}
		var nw *network.Network
		if t != nil {
			nw = network.New(t, opts...)
		} else {
			var err error
			if nw, err = network.Create(ctx, opts...); err != nil {
				return fmt.Errorf("network %s: %w", key, err)
			}
		}
		s.networks[key] = nw
	}
	for _, key := range sortedKeys(proj.Volumes) {
		vc := proj.Volumes[key]
		if vc.External {
			// Used as it is, and never removed: it must exist.
			e, err := engine.Get(ctx)
			if err != nil {
				return fmt.Errorf("external volume %s: %w", key, err)
			}
			if _, err := e.Client.VolumeInspect(ctx, vc.Name); err != nil {
				if cerrdefs.IsNotFound(err) {
					return fmt.Errorf("external volume %s: %w: volume %q does not exist (create it first, or drop external)", key, ErrInvalid, vc.Name)
				}
				return fmt.Errorf("external volume %s: inspect %s: %w", key, vc.Name, err)
			}
			s.external[key] = vc.Name
			continue
		}
		opts := []volume.Option{
			volume.Label(labelProject, proj.Name),
			volume.Label(labelVolume, key),
		}
		for _, k := range sortedKeys(vc.Labels) {
			opts = append(opts, volume.Label(k, vc.Labels[k]))
		}
		if vc.Driver != "" {
			opts = append(opts, volume.Driver(vc.Driver))
		}
		for _, k := range sortedKeys(vc.DriverOpts) {
			opts = append(opts, volume.DriverOpt(k, vc.DriverOpts[k]))
		}
		var v *volume.Volume
		if t != nil {
			v = volume.New(t, opts...)
		} else {
			var err error
			if v, err = volume.Create(ctx, opts...); err != nil {
				return fmt.Errorf("volume %s: %w", key, err)
			}
		}
		s.volumes[key] = v
	}
	return nil
}

// validate maps every service without networks and volumes, so that bad input is
// reported before anything is created.
func (p Project) validate(proj *types.Project) error {
	for _, name := range sortedKeys(proj.Services) {
		spec, err := serviceSpec(proj, name, proj.Services[name], 1, resources{})
		if err != nil {
			return err
		}
		for _, f := range p.modify[name] {
			spec = f(spec)
		}
		if err := spec.Err(); err != nil {
			return fmt.Errorf("service %s: %w: %w", name, ErrInvalid, err)
		}
	}
	return nil
}

// unit is one container of a service on its way up.
type unit struct {
	service string
	n       int
	spec    containers.Spec
	started chan struct{} // closed when the container runs
	ready   chan struct{} // closed when it is ready
	c       *containers.Container
}

// replicas is the number of containers of a service: scale, else deploy.replicas,
// else 1.
func replicas(s types.ServiceConfig) int {
	switch {
	case s.Scale != nil:
		return *s.Scale
	case s.Deploy != nil && s.Deploy.Replicas != nil:
		return *s.Deploy.Replicas
	}
	return 1
}

// postStart runs the service's post_start hooks in c.
func postStart(ctx context.Context, c *containers.Container, n int, s types.ServiceConfig) error {
	for i, h := range s.PostStart {
		if n > 1 && !h.PerReplica {
			continue
		}
		opts := containers.ExecOptions{User: h.User, WorkDir: h.WorkingDir}
		for _, k := range sortedKeys(h.Environment) {
			if v := h.Environment[k]; v != nil {
				opts.Env = append(opts.Env, k+"="+*v)
			}
		}
		r, err := c.ExecWith(ctx, opts, h.Command...)
		if err != nil {
			return fmt.Errorf("post_start[%d]: %w", i, err)
		}
		if r.ExitCode != 0 {
			return fmt.Errorf("post_start[%d] %q exited with code %d: %s%s", i, strings.Join(h.Command, " "), r.ExitCode, r.Stdout, r.Stderr)
		}
	}
	return nil
}

// startServices starts every service's containers, each once the services it depends
// on meet their conditions, and waits until all are ready.
func (p Project) startServices(ctx context.Context, t testing.TB, proj *types.Project, st *Stack) error {
	res := resources{networks: st.networks, volumes: st.volumes, external: st.external}
	// Services another service waits for with service_completed_successfully are
	// one-shot: ready when they exited with code 0.
	oneShot := map[string]bool{}
	for _, s := range proj.Services {
		for d, dep := range s.DependsOn {
			if dep.Condition == types.ServiceConditionCompletedSuccessfully {
				oneShot[d] = true
			}
		}
	}
	units := map[string][]*unit{}
	for _, name := range sortedKeys(proj.Services) {
		s := proj.Services[name]
		if replicas(s) > 1 && s.ContainerName != "" {
			return fmt.Errorf("service %s: %w: container_name with %d replicas (names are unique)", name, ErrInvalid, replicas(s))
		}
		for n := 1; n <= replicas(s); n++ {
			spec, err := serviceSpec(proj, name, s, n, res)
			if err != nil {
				return err
			}
			spec = spec.WaitFor()
			if p.fixed {
				if spec, err = fixedPorts(spec, name, s); err != nil {
					return err
				}
			}
			if s.ContainerName == "" {
				spec = spec.Named(proj.Name + "-" + name + "-" + strconv.Itoa(n))
			}
			for _, f := range p.modify[name] {
				spec = f(spec)
			}
			if err := spec.Err(); err != nil {
				return fmt.Errorf("service %s: %w: %w", name, ErrInvalid, err)
			}
			units[name] = append(units[name], &unit{service: name, n: n, spec: spec, started: make(chan struct{}), ready: make(chan struct{})})
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, containers.DefaultMaxParallelStarts)
	for _, name := range sortedKeys(units) {
		svc := proj.Services[name]
		for _, u := range units[name] {
			g.Go(func() error {
				if err := awaitDeps(gctx, name, svc, units); err != nil {
					return err
				}
				select {
				case sem <- struct{}{}:
				case <-gctx.Done():
					return gctx.Err()
				}
				var c *containers.Container
				var err error
				if t != nil {
					c, err = u.spec.StartFor(gctx, t)
				} else {
					c, err = u.spec.Run(gctx)
				}
				<-sem
				if err != nil {
					return fmt.Errorf("service %s: %w", name, err)
				}
				u.c = c
				if err := postStart(gctx, c, u.n, svc); err != nil {
					return fmt.Errorf("service %s: container %s: %w", name, c.Name(), err)
				}
				close(u.started)
				strategies := composeWaits(c, oneShot[name])
				if ws, ok := p.waits[name]; ok {
					strategies = append(strategies, ws...)
				} else if !oneShot[name] {
					strategies = append(strategies, portWaits(svc, p.fixed)...)
				}
				if len(strategies) > 0 {
					var s wait.Strategy = wait.All(strategies...)
					if len(strategies) == 1 {
						s = strategies[0]
					}
					if err := c.WaitFor(gctx, s); err != nil {
						return fmt.Errorf("service %s: %w", name, err)
					}
				}
				close(u.ready)
				return nil
			})
		}
	}
	err := g.Wait()
	if err == nil {
		err = exitedServices(ctx, units, oneShot)
	}
	for name, us := range units {
		for _, u := range us {
			if u.c != nil {
				st.services[name] = append(st.services[name], u.c)
			}
		}
	}
	for _, cs := range st.services {
		slices.SortFunc(cs, func(a, b *containers.Container) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return err
}

// exitedServices fails a stack in which a service that is not one-shot has already
// exited with a non-zero code once all are up (one whose readiness had nothing to
// wait for, say): its name, exit code and last log lines.
func exitedServices(ctx context.Context, units map[string][]*unit, oneShot map[string]bool) error {
	var errs []error
	for _, name := range sortedKeys(units) {
		for _, u := range units[name] {
			st := statusOf(u.c)
			if oneShot[name] || !st.Exited || st.ExitCode == 0 {
				continue
			}
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			tail, lerr := u.c.LogTail(tctx, 20)
			cancel()
			if lerr != nil {
				tail = "(log unavailable: " + lerr.Error() + ")"
			}
			errs = append(errs, fmt.Errorf("service %s: container %s: %w with code %d; last log lines:\n%s", name, u.c.Name(), wait.ErrExited, st.ExitCode, tail))
		}
	}
	return errors.Join(errs...)
}

// composeWaits is a service's readiness as docker compose up --wait defines it, but
// for a one-shot: exited with code 0 when another service depends on it with
// service_completed_successfully, else healthy when it has a health check, else
// nothing beyond running.
func composeWaits(c *containers.Container, oneShot bool) []wait.Strategy {
	switch {
	case oneShot:
		return []wait.Strategy{wait.ForExit(0)}
	case statusOf(c).HasHealthCheck:
		return []wait.Strategy{healthy{}}
	}
	return nil
}

// portWaits waits for the service's published TCP ports, when the Project sets no
// WaitFor for it.
func portWaits(s types.ServiceConfig, fixed bool) []wait.Strategy {
	var out []wait.Strategy
	for _, p := range s.Ports {
		if p.Protocol != "" && p.Protocol != "tcp" {
			continue
		}
		if _, err := strconv.Atoi(p.Published); err == nil && fixed && !slices.Contains([]string{"", "0.0.0.0", "127.0.0.1", "::"}, p.HostIP) {
			// Published at an address of the file's (see Project.FixedPorts), which
			// the port strategy, dialling the engine's host, would miss.
			out = append(out, dialAddr(net.JoinHostPort(p.HostIP, p.Published)))
			continue
		}
		out = append(out, wait.ForPort(fmt.Sprintf("%d/tcp", p.Target)))
	}
	return out
}

// dialAddr waits until a TCP connection to addr succeeds.
type dialAddr string

func (a dialAddr) String() string { return "port at " + string(a) }

func (a dialAddr) WaitUntilReady(ctx context.Context, _ wait.Target) error {
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", string(a))
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %w)", a, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// awaitDeps waits until every service that svc depends on meets its condition.
func awaitDeps(ctx context.Context, name string, svc types.ServiceConfig, units map[string][]*unit) error {
	for _, d := range sortedKeys(svc.DependsOn) {
		dep := svc.DependsOn[d]
		us, ok := units[d]
		if !ok {
			if !dep.Required {
				continue
			}
			return fmt.Errorf("service %s depends on %s: %w: no such service in the stack", name, d, ErrInvalid)
		}
		for _, u := range us {
			var ch chan struct{}
			switch dep.Condition {
			case types.ServiceConditionStarted, "":
				ch = u.started
			case types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully:
				ch = u.ready
			default:
				return fmt.Errorf("service %s depends on %s: %w: condition %q", name, d, ErrUnsupported, dep.Condition)
			}
			if dep.Condition == types.ServiceConditionHealthy {
				select {
				case <-u.started:
				case <-ctx.Done():
					return ctx.Err()
				}
				if !statusOf(u.c).HasHealthCheck {
					return fmt.Errorf("service %s depends on %s being healthy, but %s has no health check: %w", name, d, d, ErrInvalid)
				}
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// healthy waits for a container's health check to report healthy and, unlike
// wait.ForHealthy, fails at once when it reports unhealthy, as docker compose up
// --wait does: the retries of the check are spent by then.
type healthy struct{}

func (healthy) String() string { return "health check" }

func (healthy) WaitUntilReady(ctx context.Context, t wait.Target) error {
	o, ok := waitwire.Enrich(t).(waitwire.Observed)
	hl, _ := waitwire.Enrich(t).(waitwire.HealthLogger)
	if !ok || hl == nil {
		return fmt.Errorf("health check: container %s does not report its health", t.Name())
	}
	for {
		ch := o.StatusChanged()
		st := o.Status()
		switch {
		case !st.HasHealthCheck:
			return fmt.Errorf("health check: container %s has none", t.Name())
		case st.Health == "healthy":
			return nil
		case st.Health == "unhealthy":
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			out, err := hl.HealthLog(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("health check: %w (probe output unavailable: %v)", ErrUnhealthy, err)
			}
			return fmt.Errorf("health check: %w: last probe: %s", ErrUnhealthy, strings.TrimSpace(out))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("health check: %w (health %q)", ctx.Err(), st.Health)
		}
	}
}

// statusOf is the container's state from the engine's events.
func statusOf(c *containers.Container) waitwire.Status {
	return waitwire.Enrich(c).(waitwire.Observed).Status()
}

// fixedPorts publishes the service's ports at the host ports of the file (see
// Project.FixedPorts).
func fixedPorts(spec containers.Spec, name string, s types.ServiceConfig) (containers.Spec, error) {
	bindings := nat.PortMap{}
	for _, p := range s.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		ip := p.HostIP
		if ip == "" {
			ip = "127.0.0.1"
		}
		if p.Published != "" && replicas(s) > 1 && !strings.Contains(p.Published, "-") {
			return spec, fmt.Errorf("service %s: %w: fixed host port %s with %d replicas (they would clash)", name, ErrInvalid, p.Published, replicas(s))
		}
		port := nat.Port(fmt.Sprintf("%d/%s", p.Target, proto))
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: ip, HostPort: p.Published})
	}
	if len(bindings) == 0 {
		return spec, nil
	}
	return spec.Modify(func(_ *container.Config, hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = nat.PortMap{}
		}
		for port, b := range bindings {
			hc.PortBindings[port] = b
		}
	}), nil
}
