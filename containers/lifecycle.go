package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/engine/docker/container"
)

// lifecycleSpec is the part of a Spec that adds steps to a container's life: the
// commands run after the first start, the hooks and the logger.
type lifecycleSpec struct {
	afterStart [][]string
	afterReady [][]string
	hooks      []Hooks
	logger     Logger
}

// Create creates the container without starting it, for set-ups that must copy files
// or connect networks first: the spec's files, directories and networks are in place.
// Start it with Container.Start, which waits with the spec's strategies and runs its
// AfterStart and AfterReady commands. The container is removed when the test ends,
// started or not. On any error the test fails at once, with nothing left behind.
func (s Spec) Create(t testing.TB) *Container {
	t.Helper()
	RequireDocker(t)
	c, err := s.launch(t.Context(), t, false)
	if err != nil {
		t.Fatalf("containers: %v", err)
	}
	return c
}

// CreateContext is Create without a test, as Run is Start without one: it returns a
// created, not started, container that the caller must Terminate, or an error with
// nothing left behind.
func (s Spec) CreateContext(ctx context.Context) (*Container, error) {
	return s.launch(ctx, nil, false)
}

// AfterStart adds a command run in the container (as Exec does) once it has started,
// before the wait for readiness: for a step the readiness depends on. AfterReady adds
// one run once the container is ready: a seed step, a migration. Commands run in the
// order given, at the first start only (a Restart keeps what they did). A command that
// fails to run or exits non-zero fails the start with an error wrapping
// ErrCommandFailed (a *CommandError with the command, its exit code and output);
// Start, Run and StartAll then remove the container.
func (s Spec) AfterStart(cmd ...string) Spec {
	if len(cmd) == 0 {
		return s.fail(errors.New("after start: empty command"))
	}
	s.life.afterStart = append(slices.Clip(s.life.afterStart), slices.Clone(cmd))
	return s
}

// AfterReady adds a command run once the container is ready; see AfterStart.
func (s Spec) AfterReady(cmd ...string) Spec {
	if len(cmd) == 0 {
		return s.fail(errors.New("after ready: empty command"))
	}
	s.life.afterReady = append(slices.Clip(s.life.afterReady), slices.Clone(cmd))
	return s
}

// ErrCommandFailed is wrapped by the error of a start whose AfterStart or AfterReady
// command failed to run or exited non-zero.
var ErrCommandFailed = errors.New("command failed")

// A CommandError is the error of an AfterStart or AfterReady command.
type CommandError struct {
	Step     string   // "after start" or "after ready"
	Cmd      []string // the command
	ExitCode int      // -1 when it could not be run
	Output   string   // its stdout and stderr, trimmed
	Err      error    // why it could not be run; nil when it exited non-zero
}

func (e *CommandError) Error() string {
	cmd := strings.Join(e.Cmd, " ")
	if e.Err != nil {
		return fmt.Sprintf("%s command %q: %v", e.Step, cmd, e.Err)
	}
	out := e.Output
	if out == "" {
		out = "(no output)"
	}
	return fmt.Sprintf("%s command %q exited with code %d: %s", e.Step, cmd, e.ExitCode, out)
}

// Is makes errors.Is(err, ErrCommandFailed) true.
func (e *CommandError) Is(target error) bool { return target == ErrCommandFailed }

// Unwrap returns why the command could not be run, or nil.
func (e *CommandError) Unwrap() error { return e.Err }

// A Logger receives the framework's own lines about a container (what it created and
// ran, and the diagnosis of a failed test), one call per line. A testing.TB is one.
type Logger interface {
	Logf(format string, args ...any)
}

// LoggerFunc makes a function a Logger.
type LoggerFunc func(format string, args ...any)

// Logf calls f.
func (f LoggerFunc) Logf(format string, args ...any) { f(format, args...) }

// Logger sends the framework's lines about this container to l instead of the test's
// log (t.Logf), which is where they go by default; Run and CreateContext, which have no
// test, log nothing without a Logger. LoggerFunc(func(string, ...any) {}) discards them.
// A Logger also receives progress lines that the test's log is spared, so that a
// passing test's -v output stays about the test: when the container was created and
// when it was started and ready, with how long each took. The progress lines of a
// Build still go to the test's log.
func (s Spec) Logger(l Logger) Spec {
	if l == nil {
		return s.fail(errors.New("logger: nil logger"))
	}
	s.life.logger = l
	return s
}

// logf writes a framework line about c to the spec's Logger, else to the test's log.
func (c *Container) logf(format string, args ...any) {
	if l := c.spec.life.logger; l != nil {
		l.Logf(format, args...)
		return
	}
	if c.t != nil {
		c.t.Helper()
		c.t.Logf(format, args...)
	}
}

// startOnEngine has the engine start the container's process: the one start of the
// first start, Start, Restart and a reused container, each of which then waits in its
// own way. The runtime's refusals get their explanation, and on podman the published
// ports are made to reach the container past its internal networks.
func (c *Container) startOnEngine(ctx context.Context) error {
	if err := c.eng.Client.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		return explainStartError(err)
	}
	return c.forwardPastInternalNetworks(ctx)
}

// firstStart starts a created container, waits until it is ready and runs the
// spec's commands and hooks on the way.
func (c *Container) firstStart(ctx context.Context) error {
	if c.t != nil {
		c.t.Helper()
	}
	if err := c.runHooks(ctx, hookBeforeStart); err != nil {
		return err
	}
	if err := c.startOnEngine(ctx); err != nil {
		return c.wrap("start", err)
	}
	if err := c.afterStart(ctx); err != nil {
		return err
	}
	if c.spec.logTo != nil || len(c.spec.logConsumers) > 0 {
		c.followLogsTo(c.spec)
	}
	if err := c.runHooks(ctx, hookAfterStart); err != nil {
		return err
	}
	if err := c.runCommands(ctx, "after start", c.spec.life.afterStart); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	if err := c.runHooks(ctx, hookAfterReady); err != nil {
		return err
	}
	return c.runCommands(ctx, "after ready", c.spec.life.afterReady)
}

// runCommands runs the spec's commands of one step in order.
func (c *Container) runCommands(ctx context.Context, step string, cmds [][]string) error {
	if c.t != nil {
		c.t.Helper()
	}
	for _, cmd := range cmds {
		res, err := c.Exec(ctx, cmd...)
		if err != nil {
			return fmt.Errorf("container %s: %w", c.name, &CommandError{Step: step, Cmd: cmd, ExitCode: -1, Err: err})
		}
		out := strings.TrimSpace(strings.TrimSpace(res.Stdout) + "\n" + strings.TrimSpace(res.Stderr))
		if res.ExitCode != 0 {
			return fmt.Errorf("container %s: %w", c.name, &CommandError{Step: step, Cmd: cmd, ExitCode: res.ExitCode, Output: out})
		}
		c.logf("containers: container %s: %s command %q exited with code 0", c.name, step, strings.Join(cmd, " "))
	}
	return nil
}

// startCreated starts a container made by Create or CreateContext, for
// Container.Start. It reports false when the container has been started before.
func (c *Container) startCreated(ctx context.Context) (bool, error) {
	// A concurrent Start waits for the first one, then finds the container started.
	c.firstStartMu.Lock()
	defer c.firstStartMu.Unlock()
	c.mu.Lock()
	if !c.created {
		c.mu.Unlock()
		return false, nil
	}
	c.created = false
	c.mu.Unlock()
	if err := c.firstStart(ctx); err != nil {
		return true, err
	}
	return true, nil
}

// logLifecycle notes a step of the container's life in the framework's log.
func (c *Container) logLifecycle(what string, since time.Time) {
	l := c.spec.life.logger
	if l == nil {
		return // progress, not news: only a Logger asked for it
	}
	l.Logf("containers: container %s (%s) %s in %v", c.name, c.image, what, time.Since(since).Round(time.Millisecond))
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
	if err := c.startOnEngine(ctx); err != nil {
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
	if err := c.startOnEngine(ctx); err != nil {
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
