package containers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/mount"
	"github.com/containertest/containertest/internal/engine/docker/nat"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/eventhub"
	"github.com/containertest/containertest/internal/reaper"
	"github.com/containertest/containertest/internal/scope"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// Start creates and starts the container, waits until it is ready, and returns it.
// The container is removed when the test ends (see the package doc for teardown and
// CONTAINERTEST_KEEP). On any error the test fails at once, with nothing left behind.
// When no engine answers, the test is skipped (or fails under
// CONTAINERTEST_REQUIRE_DOCKER=1).
func (s Spec) Start(t testing.TB) *Container {
	t.Helper()
	RequireDocker(t)
	c, err := s.start(t.Context(), t)
	if err != nil {
		t.Fatalf("containers: %v", err)
	}
	return c
}

// Run is Start without a test: it returns a ready container that the caller must
// Terminate, or an error with nothing left behind.
func (s Spec) Run(ctx context.Context) (*Container, error) {
	c, err := s.start(ctx, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

var seq atomic.Int64

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// generateName makes a unique, readable container name: ct-<test>-<session>-<n>, in
// lower case. Peers reach a container by its name through the network's DNS, and DNS
// names are case-insensitive; podman's aardvark-dns answers a name with capitals only
// when it is asked in lower case, so "TestX" in a name would not resolve there.
func generateName(t testing.TB) string {
	n := seq.Add(1)
	sess := engine.SessionID()[:6]
	if t == nil {
		return fmt.Sprintf("ct-%s-%d", sess, n)
	}
	tn := strings.ToLower(strings.Trim(unsafeName.ReplaceAllString(t.Name(), "_"), "_.-"))
	if len(tn) > 40 {
		tn = tn[:40]
	}
	return fmt.Sprintf("ct-%s-%s-%d", tn, sess, n)
}

func (s Spec) start(ctx context.Context, t testing.TB) (*Container, error) {
	if t != nil {
		t.Helper()
	}
	return s.launch(ctx, t, true)
}

// launch creates the container and, when andStart, starts it (see lifecycle.go).
func (s Spec) launch(ctx context.Context, t testing.TB, andStart bool) (_ *Container, err error) {
	if t != nil {
		t.Helper()
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("invalid spec: %w", err)
	}
	if s.reuse && !andStart {
		return nil, fmt.Errorf("invalid spec: %w: Reuse with Create: a reused container is handed out started and ready; use Start or Run", ErrInvalidSpec)
	}
	if s.reuse {
		if c, ok, err := s.startReused(ctx, t); ok {
			return c, err
		}
	}
	if err := s.runBeforeCreate(ctx); err != nil {
		return nil, err
	}
	began := time.Now()
	testName := ""
	if t != nil {
		testName = t.Name()
	}
	// The first container of a process is made while its watchdog gets ready, and
	// handed out only once it is (settle, below).
	eng, labels, settle, err := reaper.BeginOverlapped(ctx, s.labels, testName)
	if err != nil {
		return nil, err
	}
	if err := s.checkEngineSupport(eng); err != nil {
		return nil, fmt.Errorf("invalid spec: %w", err)
	}
	image, pull := s.image, s.pull
	if s.build != nil {
		image, err = s.build.image(ctx, eng, t)
		if err != nil {
			return nil, err
		}
	} else if image, err = s.imageRef(); err != nil {
		return nil, err
	} else if s.platform != "" {
		if err := checkImagePlatform(ctx, eng, image, s.platform, pull); err != nil {
			return nil, err
		}
		pull = PullMissing // present, and of the platform: pulled for it if it was not
	}

	name := s.name
	if name == "" {
		name = generateName(t)
	}
	cfg, hc, nc, err := s.engineConfig(eng, image, labels)
	if err != nil {
		return nil, err
	}
	if err := s.runPrepare(ctx, eng, cfg, hc, nc); err != nil {
		return nil, err
	}
	s.applyHealthDefaults(ctx, eng, cfg)
	id, err := createContainer(ctx, eng, pull, name, cfg, hc, nc)
	if err != nil {
		return nil, err
	}
	c := newContainer(eng, s, id, name, image)
	c.persistent = writesPersistentStorage(hc)
	c.logs.tty = cfg.Tty
	if t != nil {
		c.t = t
		c.removeNow = scope.Add(t, scope.Resource{
			Kind:         scope.Container,
			ID:           id,
			Name:         "container " + name,
			Remove:       c.remove,
			BeforeRemove: c.beforeRemove,
		})
	}
	defer func() {
		if err != nil && t == nil {
			// Run: nobody else will remove it.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if rerr := c.remove(rctx); rerr != nil {
				// Nobody holds c any more: stop following its events (the last such
				// registration closes the stream); the watchdog removes the container
				// when this process ends, should the engine stay out of reach.
				eventhub.Default.Unsubscribe(c.id)
				err = fmt.Errorf("%w (and removing the container: %w)", err, rerr)
			}
		}
	}()
	// Deferred after the removal above, so run before it: a watchdog that failed to
	// get ready fails the call, and Run removes the container (Start's test does).
	defer func() {
		if serr := settle(ctx); serr != nil && err == nil {
			err = serr
		}
	}()

	for _, na := range s.networks[min(1, len(s.networks)):] {
		if err := eng.Client.NetworkConnect(ctx, na.net.ID(), id, na.endpoint()); err != nil {
			return c, fmt.Errorf("connect container %s to network %s: %w", name, na.net.Name(), err)
		}
	}
	if err := c.copyInitial(ctx); err != nil {
		return c, err
	}
	if err := eventhub.Default.Subscribe(ctx, eng, id, c.applyEvent); err != nil {
		return c, err
	}
	if err := c.runHooks(ctx, hookAfterCreate); err != nil {
		return c, err
	}
	c.logLifecycle("created", began)
	if !andStart {
		c.mu.Lock()
		c.created = true
		c.mu.Unlock()
		return c, nil
	}
	if err := c.firstStart(ctx); err != nil {
		return c, err
	}
	c.logLifecycle("started and ready", began)
	return c, nil
}

// waitReady runs the spec's strategies (by default: every exposed TCP port).
func (c *Container) waitReady(ctx context.Context) error {
	strategies := c.spec.waits
	if !c.spec.waitSet {
		for _, p := range c.spec.exposed {
			if strings.HasSuffix(p, "/tcp") {
				strategies = append(strategies, wait.ForPort(p))
			}
		}
	}
	var st wait.Strategy
	switch len(strategies) {
	case 0:
		return nil
	case 1:
		st = strategies[0]
	default:
		st = wait.All(strategies...)
	}
	if err := c.ready(ctx, st); err != nil {
		return fmt.Errorf("wait for container %s: %w", c.name, err)
	}
	return nil
}

// engineConfig translates the spec into the engine's configuration.
// labels are the container's labels, framework labels included (see reaper.Begin).
func (s Spec) engineConfig(eng *engine.Engine, image string, labels map[string]string) (*container.Config, *container.HostConfig, *dnetwork.NetworkingConfig, error) {
	cfg := &container.Config{
		Image:      image,
		Env:        dedupeEnv(s.env),
		Labels:     labels,
		User:       s.user,
		WorkingDir: s.workDir,
	}
	if s.cmdSet {
		cfg.Cmd = s.cmd
		if cfg.Cmd == nil {
			cfg.Cmd = []string{}
		}
	}
	if s.entrypointSet {
		cfg.Entrypoint = s.entrypoint
		if len(cfg.Entrypoint) == 0 {
			// The engine treats an empty entrypoint as "use the image's"; [""] clears it.
			cfg.Entrypoint = []string{""}
		}
	}
	if s.health != nil {
		test := s.health.Test
		switch test[0] {
		case "CMD", "CMD-SHELL", "NONE":
		default:
			test = append([]string{"CMD"}, test...)
		}
		cfg.Healthcheck = &container.HealthConfig{
			Test:        test,
			Interval:    s.health.Interval,
			Timeout:     s.health.Timeout,
			StartPeriod: s.health.StartPeriod,
			Retries:     s.health.Retries,
		}
	}
	bindIP := eng.PublishIP()
	hc := &container.HostConfig{
		ReadonlyRootfs: s.readOnly,
		Privileged:     s.privileged,
	}
	hc.Memory = s.memory
	hc.NanoCPUs = s.nanoCPUs
	if len(s.exposed) > 0 {
		cfg.ExposedPorts = nat.PortSet{}
		hc.PortBindings = nat.PortMap{}
		for _, p := range s.exposed {
			cfg.ExposedPorts[nat.Port(p)] = struct{}{}
			hc.PortBindings[nat.Port(p)] = []nat.PortBinding{{HostIP: bindIP}}
		}
	}
	for _, m := range s.mounts {
		switch m.kind {
		case mountVolume:
			if m.vol.Removed() {
				// The engine would silently create an empty, unlabelled volume of that name.
				return nil, nil, nil, fmt.Errorf("mount volume %s at %s: %w", m.vol.Name(), m.target, volume.ErrRemoved)
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: m.vol.Name(), Target: m.target, ReadOnly: m.readOnly})
		case mountBind:
			src, err := absHostPath(m.source)
			if err != nil {
				return nil, nil, nil, err
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: m.target, ReadOnly: m.readOnly})
		case mountTmpfs:
			// 1777, Docker's default, given on every engine: podman's compatible API
			// makes a tmpfs that only root can write to.
			mm := mount.Mount{Type: mount.TypeTmpfs, Target: m.target, TmpfsOptions: &mount.TmpfsOptions{Mode: 0o1777}}
			if m.size > 0 {
				mm.TmpfsOptions.SizeBytes = m.size
			}
			hc.Mounts = append(hc.Mounts, mm)
		case mountImage:
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeImage, Source: m.source, Target: m.target, ReadOnly: true})
		}
	}
	for _, na := range s.networks {
		if na.net.Removed() {
			return nil, nil, nil, fmt.Errorf("join network %s: %w", na.net.Name(), network.ErrRemoved)
		}
	}
	var nc *dnetwork.NetworkingConfig
	if len(s.networks) > 0 {
		first := s.networks[0]
		hc.NetworkMode = container.NetworkMode(first.net.Name())
		nc = &dnetwork.NetworkingConfig{EndpointsConfig: map[string]*dnetwork.EndpointSettings{
			first.net.Name(): first.endpoint(),
		}}
	}
	for _, f := range s.modify {
		f(cfg, hc)
	}
	if hc.NetworkMode.IsHost() {
		// The engine would discard them with a warning: host networking publishes
		// nothing, the container's ports are the host's (see Expose).
		hc.PortBindings = nil
	}
	if (hc.NetworkMode.IsHost() || hc.NetworkMode.IsNone()) && nc != nil {
		// The mode says it all, and podman refuses endpoint settings with it ("networks
		// and static ip/mac address can only be used with Bridge mode networking").
		if ep := nc.EndpointsConfig[string(hc.NetworkMode)]; ep != nil && len(ep.Aliases) == 0 && ep.IPAMConfig == nil {
			delete(nc.EndpointsConfig, string(hc.NetworkMode))
		}
	}
	return cfg, hc, nc, nil
}

// dedupeEnv keeps the last value of each key, in first-seen order.
func dedupeEnv(env []string) []string {
	if len(env) == 0 {
		return nil
	}
	idx := map[string]int{}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// createContainer creates the container, pulling the image first when the policy says
// so or when it is missing.
func createContainer(ctx context.Context, eng *engine.Engine, policy PullPolicy, name string, cfg *container.Config, hc *container.HostConfig, nc *dnetwork.NetworkingConfig) (string, error) {
	if cfg.Domainname != "" {
		// Podman's compatible API accepts a domain name and drops it: the container's
		// would be "(none)".
		if podman, err := eng.Podman(ctx); err != nil {
			return "", fmt.Errorf("create container %s: %w", name, err)
		} else if podman {
			return "", fmt.Errorf("create container %s: domain name %q: %w: podman's Docker-compatible API ignores it", name, cfg.Domainname, ErrUnsupportedByEngine)
		}
	}
	if policy == PullAlways {
		if err := pullImage(ctx, eng, cfg.Image); err != nil {
			return "", fmt.Errorf("pull image %s: %w", cfg.Image, err)
		}
	}
	resp, err := eng.Client.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil && cerrdefs.IsNotFound(err) && imageMissing(ctx, eng, cfg.Image) {
		if policy == PullNever {
			return "", fmt.Errorf("image %s not found locally and the pull policy is PullNever: build or load it first: %w: %w", cfg.Image, ErrImageNotFound, err)
		}
		if perr := pullImage(ctx, eng, cfg.Image); perr != nil {
			return "", missingImageError(cfg.Image, perr)
		}
		resp, err = eng.Client.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	}
	if err != nil {
		return "", fmt.Errorf("create container %s from %s: %w", name, cfg.Image, err)
	}
	return resp.ID, nil
}

// ErrImageNotFound is wrapped when an image is neither local nor pullable.
var ErrImageNotFound = errors.New("image not found")

// imageMissing tells whether a not-found error of a create was about the image (and not,
// say, a network that is gone): it asks the engine about the image.
func imageMissing(ctx context.Context, eng *engine.Engine, ref string) bool {
	_, err := eng.Client.ImageInspect(ctx, ref)
	return cerrdefs.IsNotFound(err)
}

func (c *Container) afterStart(ctx context.Context) error {
	info, err := c.eng.Client.ContainerInspect(ctx, c.id)
	// Podman 4.3 fails an inspect that races with the container's process exiting
	// ("read /proc/PID/cgroup: no such process"); once it has exited, inspect works.
	for try := 0; err != nil && strings.Contains(err.Error(), "no such process") && try < 10; try++ {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("inspect container %s: %w", c.name, ctx.Err())
		}
		info, err = c.eng.Client.ContainerInspect(ctx, c.id)
	}
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", c.name, err)
	}
	if info.Config != nil {
		// After the unlock below: it may ask the engine what it is.
		defer c.superviseHealth(ctx, info.Config.Healthcheck)
	}
	oomUnreported := info.HostConfig != nil && info.HostConfig.Memory > 0 && reportsNoOOM(ctx, c.eng)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.OOMUnreported = oomUnreported
	c.ports = map[string]int{}
	c.hostNet = info.HostConfig != nil && info.HostConfig.NetworkMode.IsHost()
	if c.hostNet {
		// Host networking publishes nothing: the container's ports are the host's.
		for _, p := range c.spec.exposed {
			n, _ := strconv.Atoi(p[:strings.IndexByte(p, '/')])
			c.ports[p] = n
		}
	} else if info.NetworkSettings != nil {
		for p, bs := range info.NetworkSettings.Ports {
			for _, b := range bs {
				if n, err := strconv.Atoi(b.HostPort); err == nil {
					c.ports[string(p)] = n
					break
				}
			}
		}
	}
	c.imageID = info.Image
	c.pid = 0
	if info.State != nil {
		c.pid = info.State.Pid
	}
	if info.Config != nil && info.Config.Healthcheck != nil && len(info.Config.Healthcheck.Test) > 0 && info.Config.Healthcheck.Test[0] != "NONE" {
		c.status.HasHealthCheck = true
	}
	if st := info.State; st != nil {
		// The event stream may already have told us more; only fill in what it has not.
		if st.Running && !c.status.Exited {
			c.status.Running = true
		}
		if !st.Running && st.Status == "exited" {
			c.status.Running, c.status.Exited, c.status.ExitCode = false, true, st.ExitCode
			c.status.OOMKilled = c.status.OOMKilled || st.OOMKilled
		}
		if st.Health != nil && c.status.Health == "" {
			c.status.Health = st.Health.Status
		}
	}
	c.notifyLocked()
	return nil
}
