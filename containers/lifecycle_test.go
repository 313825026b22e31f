package containers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

// uniqueName is a container name no other test uses, to look for leaks by.
func uniqueName(t *testing.T) string {
	return fmt.Sprintf("ct-life-%s-%d", strings.NewReplacer("/", "-", "#", "-").Replace(t.Name()), time.Now().UnixNano())
}

// Create makes a container that is not running, that can be changed (a file copied
// in, a network joined) and then started with the spec's wait.
func TestCreateThenStart(t *testing.T) {
	net := network.New(t)
	c := httpd().Create(t)
	ctx := t.Context()
	info, err := c.Inspect(ctx)
	require.NoError(t, err)
	assert.False(t, info.Running, "a created container must not run before Start")
	assert.Equal(t, "created", info.State)

	require.NoError(t, c.CopyTo(ctx, "/www/late.html", []byte("copied before start\n"), 0o644))
	require.NoError(t, c.Connect(ctx, net, "web"))
	require.NoError(t, c.Start(ctx))
	// The default wait (the exposed port) ran: the server answers at once.
	assert.Equal(t, "copied before start\n", get(t, c.URL("http", "8080")+"/late.html"))
	ip, err := c.IP(ctx, net)
	require.NoError(t, err)
	assert.NotEmpty(t, ip)

	// Start keeps its old meaning for a stopped container.
	require.NoError(t, c.Stop(ctx, 0))
	require.NoError(t, c.Start(ctx))
	assert.Equal(t, "hello from busybox\n", get(t, c.URL("http", "8080")+"/index.html"))
}

// CreateContext leaves the container to the caller; Terminate removes it unstarted.
func TestCreateContextTerminate(t *testing.T) {
	containers.RequireDocker(t)
	ctx := context.Background()
	c, err := containers.Image(busybox).Cmd("sleep", "60").CreateContext(ctx)
	require.NoError(t, err)
	assert.False(t, containers.StatusOf(c).Running)
	require.NoError(t, c.Terminate(ctx))
	requireNoLeak(t, c.Name())
}

// AfterStart commands run before the wait (it depends on them), AfterReady ones
// after, in order, and only at the first start.
func TestAfterStartAndAfterReadyCommands(t *testing.T) {
	var atWait string
	c := containers.Image(busybox).Cmd("sleep", "600").
		AfterStart("sh", "-c", "echo start1 >> /log").
		AfterStart("sh", "-c", "echo start2 >> /log").
		WaitFor(wait.ForFunc(func(ctx context.Context, t wait.Target) error {
			b, err := t.(*containers.Container).CopyFrom(ctx, "/log")
			atWait = string(b)
			return err
		})).
		AfterReady("sh", "-c", "echo ready >> /log").
		Start(t)
	ctx := t.Context()
	assert.Equal(t, "start1\nstart2\n", atWait, "the AfterStart commands run before the wait, AfterReady after")
	b, err := c.CopyFrom(ctx, "/log")
	require.NoError(t, err)
	assert.Equal(t, "start1\nstart2\nready\n", string(b))

	require.NoError(t, c.Restart(ctx, 0))
	b, err = c.CopyFrom(ctx, "/log")
	require.NoError(t, err)
	assert.Equal(t, "start1\nstart2\nready\n", string(b), "commands must not run again on Restart")
}

// Create then Start runs the commands too.
func TestCreateStartRunsCommands(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "600").WaitFor().
		AfterReady("sh", "-c", "echo seeded > /seed").Create(t)
	_, err := c.CopyFrom(t.Context(), "/seed")
	require.Error(t, err, "nothing may run before Start")
	require.NoError(t, c.Start(t.Context()))
	b, err := c.CopyFrom(t.Context(), "/seed")
	require.NoError(t, err)
	assert.Equal(t, "seeded\n", string(b))
}

// A failing command fails the start with the command, its exit code and output, and
// leaves nothing behind.
func TestFailingCommandFailsStart(t *testing.T) {
	containers.RequireDocker(t)
	for _, step := range []string{"after start", "after ready"} {
		t.Run(strings.ReplaceAll(step, " ", "_"), func(t *testing.T) {
			name := uniqueName(t)
			s := containers.Image(busybox).Named(name).Cmd("sleep", "600").WaitFor()
			cmd := []string{"sh", "-c", "echo out-line; echo err-line >&2; exit 3"}
			if step == "after start" {
				s = s.AfterStart(cmd...)
			} else {
				s = s.AfterReady(cmd...)
			}
			c, err := s.Run(context.Background())
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, containers.ErrCommandFailed)
			var ce *containers.CommandError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 3, ce.ExitCode)
			assert.Equal(t, step, ce.Step)
			assert.Equal(t, cmd, ce.Cmd)
			assert.Contains(t, ce.Output, "out-line")
			assert.Contains(t, ce.Output, "err-line")
			assert.Contains(t, err.Error(), "exited with code 3")
			assert.Contains(t, err.Error(), name)
			requireNoLeak(t, name)
		})
	}
}

// A command that cannot be run at all is a failure too, with the engine's reason.
func TestCommandNotFoundFailsStart(t *testing.T) {
	containers.RequireDocker(t)
	name := uniqueName(t)
	_, err := containers.Image(busybox).Named(name).Cmd("sleep", "600").WaitFor().
		AfterReady("/no/such/program").Run(context.Background())
	require.ErrorIs(t, err, containers.ErrCommandFailed)
	assert.Contains(t, err.Error(), "/no/such/program")
	requireNoLeak(t, name)
}

func TestLifecycleBadInput(t *testing.T) {
	assert.ErrorContains(t, containers.Image(busybox).AfterStart().Err(), "after start: empty command")
	assert.ErrorContains(t, containers.Image(busybox).AfterReady().Err(), "after ready: empty command")
	assert.ErrorContains(t, containers.Image(busybox).Logger(nil).Err(), "nil logger")
}

// recorder records hook calls in order.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) hooks(failAt string) containers.Hooks {
	f := func(name string) func(context.Context, *containers.Container) error {
		return func(ctx context.Context, c *containers.Container) error {
			r.add(name)
			if name == failAt {
				return errors.New("hook says no")
			}
			return nil
		}
	}
	return containers.Hooks{
		BeforeCreate: func(ctx context.Context, s containers.Spec) error {
			r.add("before create")
			if failAt == "before create" {
				return errors.New("hook says no")
			}
			return nil
		},
		AfterCreate:     f("after create"),
		BeforeStart:     f("before start"),
		AfterStart:      f("after start"),
		AfterReady:      f("after ready"),
		BeforeStop:      f("before stop"),
		AfterStop:       f("after stop"),
		BeforeTerminate: f("before terminate"),
		AfterTerminate:  f("after terminate"),
	}
}

// Every hook runs at its point, in order; the terminate hooks once.
func TestHooksOrder(t *testing.T) {
	containers.RequireDocker(t)
	var r recorder
	ctx := context.Background()
	c, err := containers.Image(busybox).Cmd("sleep", "600").WaitFor().
		Hooks(r.hooks("")).
		Hooks(containers.Hooks{AfterReady: func(ctx context.Context, c *containers.Container) error {
			r.add("second set after ready")
			return nil
		}}).
		CreateContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"before create", "after create"}, r.get())
	require.NoError(t, c.Start(ctx))
	require.NoError(t, c.Stop(ctx, 0))
	require.NoError(t, c.Start(ctx))
	require.NoError(t, c.Terminate(ctx))
	require.NoError(t, c.Terminate(ctx))
	assert.Equal(t, []string{
		"before create", "after create",
		"before start", "after start", "after ready", "second set after ready",
		"before stop", "after stop",
		"before start", "after start", "after ready", "second set after ready",
		"before terminate", "after terminate",
	}, r.get())
	requireNoLeak(t, c.Name())
}

// The terminate hooks run at the end of a test too.
func TestHooksAtTeardown(t *testing.T) {
	containers.RequireDocker(t)
	var r recorder
	t.Run("inner", func(t *testing.T) {
		containers.Image(busybox).Cmd("sleep", "600").WaitFor().Hooks(r.hooks("")).Start(t)
	})
	assert.Equal(t, []string{"before create", "after create", "before start", "after start", "after ready",
		"before terminate", "after terminate"}, r.get())
}

// A failing hook fails the start, names the hook, and leaves nothing behind.
func TestFailingHookFailsStart(t *testing.T) {
	containers.RequireDocker(t)
	for _, at := range []string{"before create", "after create", "before start", "after start", "after ready"} {
		t.Run(strings.ReplaceAll(at, " ", "_"), func(t *testing.T) {
			var r recorder
			name := uniqueName(t)
			_, err := containers.Image(busybox).Named(name).Cmd("sleep", "600").WaitFor().
				Hooks(r.hooks(at)).Run(context.Background())
			require.ErrorIs(t, err, containers.ErrHook)
			assert.ErrorContains(t, err, at+" hook")
			assert.ErrorContains(t, err, "hook says no")
			requireNoLeak(t, name)
		})
	}
}

// A failing terminate hook is reported, and the container is removed all the same.
func TestFailingTerminateHookStillRemoves(t *testing.T) {
	containers.RequireDocker(t)
	var r recorder
	ctx := context.Background()
	c, err := containers.Image(busybox).Cmd("sleep", "600").WaitFor().Hooks(r.hooks("before terminate")).Run(ctx)
	require.NoError(t, err)
	err = c.Terminate(ctx)
	require.ErrorIs(t, err, containers.ErrHook)
	requireNoLeak(t, c.Name())
}

// A failing stop hook fails Stop before anything is stopped.
func TestFailingStopHook(t *testing.T) {
	var r recorder
	c := containers.Image(busybox).Cmd("sleep", "600").WaitFor().Hooks(r.hooks("before stop")).Start(t)
	require.ErrorIs(t, c.Stop(t.Context(), 0), containers.ErrHook)
	assert.True(t, containers.StatusOf(c).Running)
}

// The framework's lines go to the Logger, also for Run, which has no test log.
func TestLogger(t *testing.T) {
	containers.RequireDocker(t)
	var mu sync.Mutex
	var lines []string
	ctx := context.Background()
	c, err := containers.Image(busybox).Cmd("sleep", "600").WaitFor().
		AfterReady("true").
		Logger(containers.LoggerFunc(func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf(format, args...))
		})).Run(ctx)
	require.NoError(t, err)
	defer c.Terminate(ctx)
	mu.Lock()
	all := strings.Join(lines, "\n")
	mu.Unlock()
	assert.Contains(t, all, "container "+c.Name()+" (busybox:latest) created")
	assert.Contains(t, all, `after ready command "true" exited with code 0`)
	assert.Contains(t, all, "started and ready")
}

// Concurrent Starts of a created container start it once: every one returns once the
// container is ready and the first start's commands have run, and they run once.
func TestCreateConcurrentStart(t *testing.T) {
	c := containers.Image(busybox).Cmd("sleep", "600").WaitFor().
		AfterReady("sh", "-c", "echo once >> /starts").Create(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = c.Start(t.Context()); errs[i] == nil {
				// Start returned: the first start's commands have run.
				_, errs[i] = c.CopyFrom(t.Context(), "/starts")
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	b, err := c.CopyFrom(t.Context(), "/starts")
	require.NoError(t, err)
	assert.Equal(t, "once\n", string(b))
}

// A failing command in one spec of RunAll removes every container of the group.
func TestFailingCommandInGroup(t *testing.T) {
	containers.RequireDocker(t)
	ok, bad := uniqueName(t)+"-ok", uniqueName(t)+"-bad"
	_, err := containers.RunAll(context.Background(),
		containers.Image(busybox).Named(ok).Cmd("sleep", "600").WaitFor(),
		containers.Image(busybox).Named(bad).Cmd("sleep", "600").WaitFor().DependsOn(ok).AfterReady("false"),
	)
	require.ErrorIs(t, err, containers.ErrCommandFailed)
	requireNoLeak(t, ok)
	requireNoLeak(t, bad)
}
