package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	dnetwork "github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/containertest/containertest/internal/engine"
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

	mu      sync.Mutex
	ports   map[string]int
	imageID string
	pid     int  // the main process's pid as the engine sees it; 0 when stopped
	hostNet bool // on the host's network: nothing is published, ports are the host's
	status  wait.Status
	changed chan struct{}
	gone    bool

	firstStartMu sync.Mutex // held by the first Start of a created container
	created      bool       // made by Create and not started yet (see lifecycle.go)
	terminating  bool       // the terminate hooks have run or are running
}

var (
	_ wait.Target       = (*Container)(nil)
	_ wait.ListenTarget = (*Container)(nil)
	_ wait.PortLister   = (*Container)(nil)
)

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

// Exec runs cmd in the container and returns its exit code with stdout and stderr
// kept apart. A non-zero exit code is not an error; failing to run the command is.
func (c *Container) Exec(ctx context.Context, cmd ...string) (ExecResult, error) {
	return c.ExecWith(ctx, ExecOptions{}, cmd...)
}

// ExecOptions changes how Exec runs a command.
type ExecOptions struct {
	Env     []string // extra KEY=VALUE pairs
	User    string   // user[:group]; default: the container's user
	WorkDir string   // default: the container's working directory
}

// ExecWith is Exec with options.
func (c *Container) ExecWith(ctx context.Context, opts ExecOptions, cmd ...string) (ExecResult, error) {
	if len(cmd) == 0 {
		return ExecResult{}, fmt.Errorf("exec in container %s: empty command", c.name)
	}
	cr, err := c.eng.Client.ContainerExecCreate(ctx, c.id, container.ExecOptions{
		Cmd: cmd, Env: opts.Env, User: opts.User, WorkingDir: opts.WorkDir,
		AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: %w", strings.Join(cmd, " "), c.name, err)
	}
	att, err := c.eng.Client.ContainerExecAttach(ctx, cr.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: attach: %w", strings.Join(cmd, " "), c.name, err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		att.Close()
		<-done
		return ExecResult{}, fmt.Errorf("exec %q in container %s: %w", strings.Join(cmd, " "), c.name, ctx.Err())
	}
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: read output: %w", strings.Join(cmd, " "), c.name, err)
	}
	ins, err := c.eng.Client.ContainerExecInspect(ctx, cr.ID)
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: inspect: %w", strings.Join(cmd, " "), c.name, err)
	}
	if ins.Running {
		// The streams closed but the process is still being reaped; ask again briefly.
		for i := 0; i < 50 && ins.Running; i++ {
			time.Sleep(10 * time.Millisecond)
			if ins, err = c.eng.Client.ContainerExecInspect(ctx, cr.ID); err != nil {
				return ExecResult{}, fmt.Errorf("exec %q in container %s: inspect: %w", strings.Join(cmd, " "), c.name, err)
			}
		}
	}
	return ExecResult{ExitCode: ins.ExitCode, Stdout: stdout.String(), Stderr: stderr.String()}, nil
}

// CopyTo writes content to the file path (absolute) in the container, creating
// missing parent directories.
func (c *Container) CopyTo(ctx context.Context, path string, content []byte, mode fs.FileMode) error {
	if err := checkTarget(path); err != nil {
		return c.wrap("copy to", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := addFile(tw, path, content, mode); err != nil {
		return c.wrap("copy to", err)
	}
	if err := tw.Close(); err != nil {
		return c.wrap("copy to", err)
	}
	if err := c.eng.Client.CopyToContainer(ctx, c.id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return c.wrap("copy to", err)
	}
	return nil
}

// CopyFrom reads the regular file at path in the container.
func (c *Container) CopyFrom(ctx context.Context, path string) ([]byte, error) {
	if err := checkTarget(path); err != nil {
		return nil, c.wrap("copy from", err)
	}
	rc, st, err := c.eng.Client.CopyFromContainer(ctx, c.id, path)
	if err != nil {
		return nil, fmt.Errorf("copy %s from container %s: %w", path, c.name, err)
	}
	defer rc.Close()
	if st.Mode.IsDir() {
		return nil, fmt.Errorf("copy %s from container %s: is a directory", path, c.name)
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("copy %s from container %s: %w", path, c.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

// addFile writes a file entry and its parent directories to tw.
func addFile(tw *tar.Writer, p string, content []byte, mode fs.FileMode) error {
	p = strings.TrimPrefix(path.Clean(p), "/")
	dirs := strings.Split(p, "/")
	for i := 1; i < len(dirs); i++ {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(dirs[:i], "/") + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	if mode == 0 {
		mode = 0o644
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: int64(mode.Perm()), Size: int64(len(content))}); err != nil {
		return err
	}
	_, err := tw.Write(content)
	return err
}

// copyInitial copies the spec's files and directories in before the start.
func (c *Container) copyInitial(ctx context.Context) error {
	if len(c.spec.files) == 0 && len(c.spec.dirs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range c.spec.files {
		if err := addFile(tw, f.path, f.content, f.mode); err != nil {
			return c.wrap("copy files into", err)
		}
	}
	for _, d := range c.spec.dirs {
		if err := addDir(tw, d.hostDir, d.target); err != nil {
			return c.wrap("copy files into", err)
		}
	}
	if err := tw.Close(); err != nil {
		return c.wrap("copy files into", err)
	}
	if err := c.eng.Client.CopyToContainer(ctx, c.id, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return c.wrap("copy files into", err)
	}
	return nil
}

// addDir adds the tree under hostDir to tw, rooted at target.
func addDir(tw *tar.Writer, hostDir, target string) error {
	st, err := os.Stat(hostDir)
	if err != nil {
		return fmt.Errorf("copy dir: %w: %w", ErrInvalidSpec, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("copy dir: %w: %s is not a directory", ErrInvalidSpec, hostDir)
	}
	root := strings.TrimPrefix(path.Clean(target), "/")
	parts := strings.Split(root, "/")
	for i := 1; i <= len(parts); i++ {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i], "/") + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	return filepath.WalkDir(hostDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(hostDir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = path.Join(root, filepath.ToSlash(rel))
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
}

// Status is the container's state as last reported by the engine's event stream.
func (c *Container) Status() wait.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// StatusChanged returns a channel that is closed at the next change of Status.
func (c *Container) StatusChanged() <-chan struct{} {
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

// Stop stops the container gracefully: SIGTERM (or the image's stop signal), then
// SIGKILL after timeout. A timeout of 0 kills at once; DefaultStopTimeout is the
// engine's usual 10 s. A negative timeout is an error.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) error {
	opts, err := stopOptions(timeout)
	if err != nil {
		return c.wrap("stop", err)
	}
	if err := c.runHooks(ctx, hookBeforeStop); err != nil {
		return err
	}
	if err := c.eng.Client.ContainerStop(ctx, c.id, opts); err != nil {
		return c.wrap("stop", err)
	}
	return c.runHooks(ctx, hookAfterStop)
}

// Start starts a container made by Spec.Create or CreateContext, or a stopped one again,
// and waits until it is ready, with the spec's strategies. The first start of a created
// container also runs the spec's AfterStart and AfterReady commands; on an error it is
// left as it is, for the caller (or the test's end) to remove. Published host ports may
// differ from a previous run.
func (c *Container) Start(ctx context.Context) error {
	if first, err := c.startCreated(ctx); first {
		return err
	}
	if err := c.newRun(ctx); err != nil {
		return c.wrap("start", err)
	}
	if err := c.runHooks(ctx, hookBeforeStart); err != nil {
		return err
	}
	if err := c.eng.Client.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		return c.wrap("start", err)
	}
	return c.readyAgain(ctx)
}

// Restart stops the container (SIGTERM, SIGKILL after timeout, as Stop: 0 kills at
// once), starts it again and waits until it is ready. The engine assigns new random host
// ports on restart: look them up again with MappedPort afterwards.
func (c *Container) Restart(ctx context.Context, timeout time.Duration) error {
	opts, err := stopOptions(timeout)
	if err != nil {
		return c.wrap("restart", err)
	}
	// Stop and start rather than the engine's restart: in between, the log marks where
	// the new run's lines begin, for the waits.
	if err := c.eng.Client.ContainerStop(ctx, c.id, opts); err != nil {
		return c.wrap("restart", err)
	}
	if err := c.newRun(ctx); err != nil {
		return c.wrap("restart", err)
	}
	if err := c.runHooks(ctx, hookBeforeStart); err != nil {
		return err
	}
	if err := c.eng.Client.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		return c.wrap("restart", err)
	}
	return c.readyAgain(ctx)
}

func (c *Container) readyAgain(ctx context.Context) error {
	c.mu.Lock()
	// The events of the stop may still be in flight; start from what the engine says.
	c.status.Exited, c.status.Running = false, true
	c.mu.Unlock()
	if err := c.afterStart(ctx); err != nil {
		return err
	}
	if err := c.runHooks(ctx, hookAfterStart); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	return c.runHooks(ctx, hookAfterReady)
}

// Kill sends signal (e.g. "SIGKILL", "SIGHUP"; "" means SIGKILL) to the process.
func (c *Container) Kill(ctx context.Context, signal string) error {
	if err := c.eng.Client.ContainerKill(ctx, c.id, signal); err != nil {
		return c.wrap("kill", err)
	}
	return nil
}

// Pause freezes every process in the container.
func (c *Container) Pause(ctx context.Context) error {
	if err := c.eng.Client.ContainerPause(ctx, c.id); err != nil {
		return c.wrap("pause", err)
	}
	return nil
}

// Unpause resumes a paused container.
func (c *Container) Unpause(ctx context.Context) error {
	if err := c.eng.Client.ContainerUnpause(ctx, c.id); err != nil {
		return c.wrap("unpause", err)
	}
	return nil
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

// Terminate removes the container now, with its anonymous volumes, as teardown does:
// stopped gracefully when it writes to a named volume or bind mount or the spec says so
// (see Spec.GracefulStop), else killed at once. Calling it again is harmless.
func (c *Container) Terminate(ctx context.Context) error {
	if c.removeNow != nil {
		return c.removeNow(ctx)
	}
	return c.remove(ctx)
}

// remove runs the terminate hooks around removeContainer.
func (c *Container) remove(ctx context.Context) error {
	return c.terminateHooks(ctx, c.removeContainer)
}

// removeContainer stops the container (see teardownGrace), then kills and removes it
// with its anonymous volumes in one call.
func (c *Container) removeContainer(ctx context.Context) error {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.stopForTeardown(ctx)
	c.drainLogs(ctx)
	err := c.eng.Client.ContainerRemove(ctx, c.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
		return c.wrap("remove", err)
	}
	hub.unsubscribe(c.id)
	c.mu.Lock()
	c.gone = true
	c.mu.Unlock()
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
