package containers

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// A Spec describes a container to start. It is a value: every method returns a changed
// copy and never mutates the receiver, so one base Spec can be shared by parallel tests
// and specialised in each.
//
// Invalid input (an empty image, a malformed port, a negative limit, ...) is recorded
// and reported by Start or Run, so that a chain of calls stays readable.
type Spec struct {
	image      string
	build      *buildSpec
	pull       PullPolicy
	platform   string                           // of an Image spec (a Build's is in build)
	substitute func(ref string) (string, error) // SubstituteImage

	name          string
	cmd           []string
	cmdSet        bool
	entrypoint    []string
	entrypointSet bool
	env           []string
	exposed       []string
	labels        map[string]string
	user          string
	workDir       string
	memory        int64
	nanoCPUs      int64
	health        *Health
	readOnly      bool
	privileged    bool

	networks []netAttach
	mounts   []mountSpec
	files    []fileSpec
	dirs     []dirSpec

	logTo        io.Writer
	logConsumers []func(LogLine)
	startTimeout time.Duration
	waits        []wait.Strategy
	waitSet      bool
	dependsOn    []string
	modify       []func(*container.Config, *container.HostConfig)
	prepare      []prepareFunc // see prepare.go
	graceful     *time.Duration
	reuse        bool          // see Reuse
	life         lifecycleSpec // see lifecycle.go

	errs []error
}

type netAttach struct {
	net     *network.Network
	aliases []string
	ip4     netip.Addr // static addresses (see IP); zero when the engine chooses
	ip6     netip.Addr
}

type mountKind int

const (
	mountVolume mountKind = iota
	mountBind
	mountTmpfs
	mountImage
)

type mountSpec struct {
	kind     mountKind
	vol      *volume.Volume
	source   string // absolute host path for binds, image reference for image mounts
	target   string
	readOnly bool
	size     int64 // tmpfs size in bytes; 0 means the engine default
	sizeSet  bool  // TmpfsSize was given (rejected on a bind)
}

type fileSpec struct {
	path    string
	content []byte
	mode    fs.FileMode
}

type dirSpec struct {
	hostDir, target string
}

// Health describes a Docker health check.
type Health struct {
	// Test is the probe. A plain command such as {"pg_isready", "-U", "postgres"} runs
	// without a shell; {"CMD-SHELL", "curl -f localhost"} runs in /bin/sh; {"NONE"}
	// disables the image's health check.
	Test []string
	// Interval between probes, Timeout of one probe, StartPeriod during which failures
	// do not count. A zero Timeout or StartPeriod means the engine default (30 s, 0); a
	// zero Interval means a test-friendly one instead of the engine's 30 s (see
	// DefaultHealthInterval).
	Interval, Timeout, StartPeriod time.Duration
	// Retries is the number of consecutive failures that make the container unhealthy;
	// zero means the engine default (3).
	Retries int
}

// PullPolicy says when an image is pulled from its registry.
type PullPolicy int

const (
	// PullMissing pulls only when the image is not present locally (the default).
	PullMissing PullPolicy = iota
	// PullAlways pulls before every start, to get the newest image for a tag.
	PullAlways
	// PullNever uses only local images: a missing image is an error.
	PullNever
)

// Image returns a Spec for a container of image ref (e.g. "busybox:latest").
func Image(ref string) Spec {
	s := Spec{image: ref}
	if strings.TrimSpace(ref) == "" {
		s = s.fail(errors.New("empty image reference"))
	} else if _, err := reference.ParseAnyReference(ref); err != nil {
		s = s.fail(fmt.Errorf("invalid image reference %q: %w", ref, err))
	}
	return s
}

// fail records an input error; Start and Run report every recorded error.
func (s Spec) fail(err error) Spec {
	s.errs = append(slices.Clip(s.errs), err)
	return s
}

// ErrInvalidSpec is wrapped by Spec.Err, and so by Start, Run and StartAll, when a
// Spec was given invalid input; the message names each problem and its value.
var ErrInvalidSpec = errors.New("invalid spec")

// Err returns the input errors recorded so far, joined, or nil. A non-nil error wraps
// ErrInvalidSpec beside each recorded error.
func (s Spec) Err() error {
	err := errors.Join(s.errs...)
	if err == nil {
		return nil
	}
	return specError{err}
}

// specError is the joined input errors of a Spec; it also matches ErrInvalidSpec, with
// no change to the message (callers already say "invalid spec").
type specError struct{ err error }

func (e specError) Error() string   { return e.err.Error() }
func (e specError) Unwrap() []error { return []error{ErrInvalidSpec, e.err} }

// Pull sets the pull policy (PullMissing by default).
func (s Spec) Pull(p PullPolicy) Spec {
	s.pull = p
	return s
}

// Named sets the container's name. Without it, a unique name is generated from the
// test's name. A name must be unique on the engine: parallel tests should rely on the
// generated name and reach containers by network alias (see On).
func (s Spec) Named(name string) Spec {
	if !validName(name) {
		return s.fail(fmt.Errorf("invalid container name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", name))
	}
	s.name = name
	return s
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_.-", r)) {
			return false
		}
	}
	return true
}

// Cmd sets the command, replacing the image's CMD. The image's ENTRYPOINT is kept,
// exactly as with "docker run IMAGE cmd...".
func (s Spec) Cmd(cmd ...string) Spec {
	s.cmd = slices.Clone(cmd)
	s.cmdSet = true
	return s
}

// Entrypoint sets the entrypoint, replacing the image's ENTRYPOINT. As with
// "docker run --entrypoint", the image's CMD is then dropped unless Cmd is also given.
// Entrypoint() with no arguments clears the image's entrypoint.
func (s Spec) Entrypoint(entrypoint ...string) Spec {
	s.entrypoint = slices.Clone(entrypoint)
	s.entrypointSet = true
	return s
}

// Env sets an environment variable. A later call for the same key wins.
func (s Spec) Env(key, value string) Spec {
	if key == "" || strings.ContainsAny(key, "=\x00") {
		return s.fail(fmt.Errorf("invalid environment variable name %q", key))
	}
	s.env = append(slices.Clip(s.env), key+"="+value)
	return s
}

// Expose publishes container ports on random host ports bound to 127.0.0.1 (on all
// interfaces for a remote engine). "8080" means "8080/tcp"; "53/udp" and "9000/sctp"
// name other protocols. Look the host port up with Container.MappedPort.
//
// A container on the host's network (On a network.Lookup of "host", or NetworkMode
// "host" through Modify) publishes nothing: its ports are the host's own, so
// MappedPort returns the container port itself and Endpoint "127.0.0.1:8080"; Expose
// then only names the ports to look up and wait for. Such a port is reached at
// 127.0.0.1 whether the server listens there or on 0.0.0.0.
func (s Spec) Expose(ports ...string) Spec {
	for _, p := range ports {
		np, err := normalizePort(p)
		if err != nil {
			s = s.fail(err)
			continue
		}
		if !slices.Contains(s.exposed, np) {
			s.exposed = append(slices.Clip(s.exposed), np)
		}
	}
	return s
}

// Label sets a label on the container. Labels in the org.containertest. namespace are
// reserved for the framework.
func (s Spec) Label(key, value string) Spec {
	if err := engine.CheckLabel(key); err != nil {
		return s.fail(err)
	}
	l := maps.Clone(s.labels)
	if l == nil {
		l = map[string]string{}
	}
	l[key] = value
	s.labels = l
	return s
}

// User sets the user (and optionally group) the process runs as: "nobody", "1000:1000".
func (s Spec) User(user string) Spec {
	s.user = user
	return s
}

// WorkDir sets the working directory of the process; it must be absolute.
func (s Spec) WorkDir(dir string) Spec {
	if !path.IsAbs(dir) {
		return s.fail(fmt.Errorf("work dir %q is not an absolute path", dir))
	}
	s.workDir = dir
	return s
}

// Memory limits the container's memory to bytes (e.g. 64<<20).
func (s Spec) Memory(bytes int64) Spec {
	if bytes <= 0 {
		return s.fail(fmt.Errorf("memory limit %d: must be positive", bytes))
	}
	if bytes < 6<<20 {
		return s.fail(fmt.Errorf("memory limit %d: the engine needs at least 6 MiB", bytes))
	}
	s.memory = bytes
	return s
}

// CPUs limits the container to n CPUs (e.g. 0.5).
func (s Spec) CPUs(n float64) Spec {
	if !(n > 0) {
		return s.fail(fmt.Errorf("cpu limit %v: must be positive", n))
	}
	s.nanoCPUs = int64(n * 1e9)
	return s
}

// HealthCheck sets the Docker health check, replacing the image's. Wait for it with
// wait.ForHealthy.
func (s Spec) HealthCheck(h Health) Spec {
	if len(h.Test) == 0 {
		return s.fail(errors.New("health check without a test command"))
	}
	if h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.Retries < 0 {
		return s.fail(errors.New("health check: negative interval, timeout, start period or retries"))
	}
	h.Test = slices.Clone(h.Test)
	s.health = &h
	return s
}

// ReadOnly mounts the container's root filesystem read-only.
func (s Spec) ReadOnly() Spec {
	s.readOnly = true
	return s
}

// Privileged runs the container with all capabilities and host devices. Never the
// default; use it only for tests that need it.
func (s Spec) Privileged() Spec {
	s.privileged = true
	return s
}

// File copies content into the container at path (absolute) before it starts.
func (s Spec) File(path string, content []byte, mode fs.FileMode) Spec {
	if err := checkTarget(path); err != nil {
		return s.fail(fmt.Errorf("file: %w", err))
	}
	s.files = append(slices.Clip(s.files), fileSpec{path: path, content: slices.Clone(content), mode: mode})
	return s
}

// CopyDir copies the host directory hostDir into the container at target before it
// starts (the contents of hostDir become the contents of target). A relative hostDir
// is resolved against the working directory when CopyDir is called, as every host path
// of a Spec is; target must be absolute, as every container path is.
func (s Spec) CopyDir(hostDir, target string) Spec {
	if err := checkTarget(target); err != nil {
		return s.fail(fmt.Errorf("copy dir: %w", err))
	}
	hostDir, err := absPath(hostDir)
	if err != nil {
		return s.fail(fmt.Errorf("copy dir: %w", err))
	}
	s.dirs = append(slices.Clip(s.dirs), dirSpec{hostDir: hostDir, target: target})
	return s
}

// On attaches the container to net with optional aliases by which other containers on
// net reach it (the container's name always works too). The first network is joined at
// creation, further ones right after. On again for a network already named adds its
// aliases to the earlier ones: On(net, "db").On(net, "postgres") is On(net, "db",
// "postgres").
//
// Published ports forward to the container's address on the network that gives it its
// default route; a server inside should listen on 0.0.0.0 (see wait.ForPort).
func (s Spec) On(net *network.Network, aliases ...string) Spec {
	if net == nil {
		return s.fail(errors.New("on: nil network"))
	}
	if len(aliases) > 0 && isDefaultNetwork(net.Name()) {
		return s.fail(fmt.Errorf("on %s: aliases work only on user-defined networks (create one with network.New)", net.Name()))
	}
	for _, a := range aliases {
		if !validName(a) {
			return s.fail(fmt.Errorf("on %s: invalid alias %q", net.Name(), a))
		}
	}
	if i := slices.IndexFunc(s.networks, func(na netAttach) bool { return sameNetwork(na.net, net) }); i >= 0 {
		merged := slices.Clone(s.networks[i].aliases)
		for _, a := range aliases {
			if !slices.Contains(merged, a) {
				merged = append(merged, a)
			}
		}
		s.networks = slices.Clone(s.networks)
		s.networks[i].aliases = merged
		return s
	}
	s.networks = append(slices.Clip(s.networks), netAttach{net: net, aliases: slices.Clone(aliases)})
	return s
}

// sameNetwork reports whether a and b are the same engine network.
func sameNetwork(a, b *network.Network) bool {
	if a == b {
		return true
	}
	if a.ID() != "" || b.ID() != "" {
		return a.ID() == b.ID()
	}
	return a.Name() == b.Name()
}

// Mount mounts the named volume vol at target. ReadOnlyMount() makes it read-only
// inside the container (a container that only reads a volume is then killed at
// teardown, not stopped gracefully: see GracefulStop).
func (s Spec) Mount(vol *volume.Volume, target string, opts ...MountOption) Spec {
	if vol == nil {
		return s.fail(errors.New("mount: nil volume"))
	}
	if err := checkTarget(target); err != nil {
		return s.fail(fmt.Errorf("mount %s: %w", vol.Name(), err))
	}
	m := mountSpec{kind: mountVolume, vol: vol, target: target}
	for _, o := range opts {
		if o == nil {
			return s.fail(fmt.Errorf("mount %s: nil mount option", vol.Name()))
		}
		o(&m)
	}
	if m.sizeSet {
		return s.fail(fmt.Errorf("mount %s at %s: TmpfsSize applies only to Tmpfs mounts", vol.Name(), target))
	}
	s.mounts = append(slices.Clip(s.mounts), m)
	return s
}

// A MountOption changes a volume, bind or tmpfs mount. An option given to a mount it
// does not apply to is an error.
type MountOption func(*mountSpec)

// ReadOnlyMount makes a volume or bind mount read-only inside the container. It does
// not apply to Tmpfs: a tmpfs is empty, so a read-only one is of no use.
func ReadOnlyMount() MountOption { return func(m *mountSpec) { m.readOnly = true } }

// TmpfsSize limits a tmpfs mount to bytes. It applies to Tmpfs only.
func TmpfsSize(bytes int64) MountOption {
	return func(m *mountSpec) { m.size, m.sizeSet = bytes, true }
}

// Bind mounts the host path hostPath (file or directory, which must exist when the
// container is created) at target. A relative hostPath is resolved against the working
// directory when Bind is called.
func (s Spec) Bind(hostPath, target string, opts ...MountOption) Spec {
	if err := checkTarget(target); err != nil {
		return s.fail(fmt.Errorf("bind %s: %w", hostPath, err))
	}
	src, err := absPath(hostPath)
	if err != nil {
		return s.fail(fmt.Errorf("bind %s: %w", hostPath, err))
	}
	m := mountSpec{kind: mountBind, source: src, target: target}
	for _, o := range opts {
		if o == nil {
			return s.fail(fmt.Errorf("bind %s: nil mount option", hostPath))
		}
		o(&m)
	}
	if m.sizeSet {
		return s.fail(fmt.Errorf("bind %s at %s: TmpfsSize applies only to Tmpfs mounts", hostPath, target))
	}
	s.mounts = append(slices.Clip(s.mounts), m)
	return s
}

// Tmpfs mounts an empty in-memory filesystem at target; its content is lost when the
// container stops.
func (s Spec) Tmpfs(target string, opts ...MountOption) Spec {
	if err := checkTarget(target); err != nil {
		return s.fail(fmt.Errorf("tmpfs: %w", err))
	}
	m := mountSpec{kind: mountTmpfs, target: target}
	for _, o := range opts {
		if o == nil {
			return s.fail(fmt.Errorf("tmpfs %s: nil mount option", target))
		}
		o(&m)
	}
	if m.readOnly {
		return s.fail(fmt.Errorf("tmpfs %s: ReadOnlyMount applies only to volume and bind mounts (a tmpfs starts empty)", target))
	}
	if m.size < 0 {
		return s.fail(fmt.Errorf("tmpfs %s: negative size", target))
	}
	s.mounts = append(slices.Clip(s.mounts), m)
	return s
}

func checkTarget(p string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("target %q is not an absolute path", p)
	}
	return nil
}

// WaitFor sets the readiness strategies; the container is ready when all of them are.
// Without WaitFor, Start waits until every exposed TCP port accepts connections.
// WaitFor() with no strategies disables waiting.
func (s Spec) WaitFor(strategies ...wait.Strategy) Spec {
	for _, st := range strategies {
		if st == nil {
			return s.fail(errors.New("wait for: nil strategy"))
		}
	}
	s.waits = slices.Clone(strategies)
	s.waitSet = true
	return s
}

// StartTimeout bounds how long Start waits for readiness. A context deadline that is
// earlier wins; without either, CONTAINERTEST_START_TIMEOUT or 60 s applies.
func (s Spec) StartTimeout(d time.Duration) Spec {
	if d <= 0 {
		return s.fail(fmt.Errorf("start timeout %v: must be positive", d))
	}
	s.startTimeout = d
	return s
}

// DependsOn names the specs that StartAll must have started and made ready before this
// one starts. A spec is named by Named or by any of its network aliases (see On);
// aliases let parallel tests run the same stack without clashing container names.
func (s Spec) DependsOn(names ...string) Spec {
	s.dependsOn = append(slices.Clip(s.dependsOn), names...)
	return s
}

// LogTo copies the container's stdout and stderr to w as they are written, across
// restarts, until the container is removed: removal first kills the process and waits
// until every line it wrote has reached w (a few seconds at most). Each line reaches w
// once, and nothing after removal. t.Output() is a good choice in tests.
func (s Spec) LogTo(w io.Writer) Spec {
	s.logTo = w
	return s
}

// GracefulStop sets how teardown (at the end of the test, or Terminate) stops the
// container: the stop signal (SIGTERM unless the image says otherwise), up to timeout
// for the process to exit, then SIGKILL. GracefulStop(0) kills at once, as
// KillOnTeardown does; a negative timeout is an error.
//
// Without GracefulStop or KillOnTeardown, a container that mounts a writable named
// volume or bind mount is stopped gracefully, for up to DefaultStopTimeout: its data
// outlives it, and a database killed mid-write may leave it damaged. Every other
// container is killed at once: test containers are disposable.
func (s Spec) GracefulStop(timeout time.Duration) Spec {
	if timeout < 0 {
		return s.fail(fmt.Errorf("graceful stop timeout %v: negative (0 kills at once)", timeout))
	}
	s.graceful = &timeout
	return s
}

// KillOnTeardown makes teardown kill the container at once, even when it mounts a named
// volume or bind mount (see GracefulStop): for data that does not matter after the
// test, or a process that ignores its stop signal.
func (s Spec) KillOnTeardown() Spec {
	var zero time.Duration
	s.graceful = &zero
	return s
}

// Name returns the name set with Named, or "".
func (s Spec) Name() string { return s.name }

// isDefaultNetwork reports whether name is one of the engine's predefined networks, on
// which network-scoped aliases do not work.
func isDefaultNetwork(name string) bool {
	return name == "bridge" || name == "host" || name == "none"
}
