// Package reaper makes the cleanup of containers, networks and volumes crash-safe
// without a reaper image.
//
// Call Ensure before creating each resource. The first call of a process
//
//   - starts a watchdog: the running binary re-executed (/proc/self/exe on Linux) with a
//     hidden environment variable, so that the init function of this package runs the
//     watchdog instead of the program (every test binary that uses the framework imports
//     this package). The watchdog lives in its own process group, so a Ctrl-C to the
//     tests does not reach it, and holds the read end of a pipe whose write end only this
//     process has. When this process exits for any reason (normal exit, panic, test
//     timeout, SIGKILL, Ctrl-C), the pipe reads end-of-file and the watchdog removes every
//     container (forced, with its anonymous volumes), then network, then volume that
//     carries this process's session label and is not kept, and exits;
//   - starts, in the background, a sweep of resources that earlier processes on this
//     host left behind: a resource is removed only when its owner process is provably
//     gone (same host and pid namespace, and no process with the recorded pid and start
//     time exists) and it is not kept.
//
// Go runs, in the watchdog too, the init functions of every package initialized before
// this one: its dependencies and the packages whose import paths sort before it, user
// packages among them. The watchdog therefore starts with the parent's working
// directory, environment and argv[0], so that those functions behave as they did in
// the tests, and moves to "/" only afterwards. It then writes a byte on a second pipe
// to say it is ready, and Ensure waits for that byte: a watchdog that exits or blocks
// before it (an init function that fails or waits in a second process) is reported
// once, by the error of that Ensure call, wrapping ErrWatchdogNotReady and quoting the
// watchdog's output. Starting another would end the same way, so the process goes on
// without one: its leftovers are then removed only by a later process's sweep.
//
// The first container of a process is created while its watchdog gets ready
// (BeginOverlapped), and handed out only once it is: that hides the watchdog's start,
// tens of milliseconds for a large test binary. A watchdog whose parent died meanwhile
// finds the ready pipe closed, and cleans up as after any other death.
//
// Later calls cost an atomic load. If the watchdog process cannot be started at all,
// Ensure returns the error and the next call tries again. A watchdog that dies after it
// was ready (killed by someone, or by the OOM killer) is reported on stderr, which is
// the test log, and replaced at once (up to maxRestarts times): the new one removes
// the whole session, resources created before it included.
//
// Keep mode (CONTAINERTEST_KEEP=failed or always) leaves resources in place for
// debugging. Labels cannot change after creation, so a kept resource is recognised in
// one of two ways: with CONTAINERTEST_KEEP=always the creator puts LabelKeep on it (Labels
// does that), and a resource kept because its test failed is recorded with MarkKept as
// a marker file under the cache directory, which the watchdog and the sweep read. With
// CONTAINERTEST_KEEP=failed every resource is created with LabelMarkerDir, the
// directory its marker would be in, so that a process using another cache directory
// still finds the marker.
// Report prints how to get into kept containers and one command that removes them.
//
// CONTAINERTEST_REAPER=off turns the watchdog and the sweep off, for platforms where the
// binary cannot be re-executed; cleanup then relies on the tests' own cleanup alone.
package reaper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/containertest/containertest/internal/cachedir"
	"github.com/containertest/containertest/internal/engine"
)

// Environment variables read by this package.
const (
	// EnvKeep selects the keep mode: "failed", "always", or empty (never).
	EnvKeep = "CONTAINERTEST_KEEP"
	// EnvCacheDir overrides the cache directory (default: os.UserCacheDir()/containertest).
	EnvCacheDir = cachedir.Env
	// EnvReaper set to "off" disables the watchdog and the sweep.
	EnvReaper = "CONTAINERTEST_REAPER"

	// envWatchdog is the hidden variable that makes a re-executed binary run the
	// watchdog for the session it names.
	envWatchdog = "CONTAINERTEST_INTERNAL_WATCHDOG"
)

// ErrWatchdogNotReady is wrapped by the error of Ensure when the watchdog exited, or
// blocked, before it said it was ready: an init function of a package in the test
// binary, which runs in the watchdog too, ended or blocked it.
var ErrWatchdogNotReady = errors.New("crash-cleanup watchdog did not start")

// degradedHint ends the report of a watchdog that could not be started or restarted.
const degradedHint = "this test process goes on without a watchdog: what its tests leave behind when it crashes, " +
	"is killed or times out is removed only by the sweep of a later test process on this host. " +
	"The watchdog is this binary started again, and Go runs in it the init functions of the packages " +
	"initialized before github.com/containertest/containertest/internal/reaper (its dependencies, and " +
	"packages whose import paths sort first), with the tests' working directory and environment plus " +
	envWatchdog + " set: make them work there, or set " + EnvReaper + "=off to go without the watchdog knowingly"

// maxRestarts is how many times a process replaces a watchdog that died while it ran.
const maxRestarts = 3

var (
	// ready is true once Ensure has done its work (the watchdog runs, the reaper is
	// off, or the watchdog's failure was reported); it makes Ensure cheap.
	ready   atomic.Bool
	readyMu sync.Mutex
	// wd is the running watchdog; its pipe's write end must stay open (and reachable, so
	// that no finalizer closes it) for the life of the process.
	wd *watchdog
	// restarts counts the watchdogs started to replace one that died.
	restarts int
	// reportTo receives the reports of watchdogs that died while the tests ran: the
	// test binary's stderr, which is the test log.
	reportTo  io.Writer = os.Stderr
	sweepOnce sync.Once
)

// Ensure makes sure this process's resources are removed even if the process dies:
// on first use it starts the watchdog and a background sweep of dead sessions'
// resources. Call it before creating each container, network or volume; after the
// first successful call it returns at once.
//
// A failure to start the watchdog process is returned (wrapping engine.ErrUnavailable
// when no engine answers) and the next call tries again. A watchdog that starts but
// exits or blocks before it is ready (an init function of the binary ends it) is
// reported once, by the error of that call, wrapping ErrWatchdogNotReady: starting it
// again would end the same way, so later calls return nil and the process goes on
// without a watchdog, covered only by the sweep of later processes. A watchdog that
// dies after it was ready is reported on stderr and replaced at once.
func Ensure(ctx context.Context) error {
	if ready.Load() {
		return nil
	}
	return ensureSlow(ctx)
}

func ensureSlow(ctx context.Context) error {
	settle, err := launch(ctx)
	if err != nil {
		return err
	}
	return settle(ctx)
}

// starting is the watchdog start under way, begun by launch; nil when there is none.
// Guarded by readyMu.
var starting *pendingStart

// A pendingStart is a watchdog process that was started and is getting ready.
type pendingStart struct {
	done chan struct{}
	err  error // what Ensure returns for this start; set before done is closed
}

// settle waits until the start is over and returns its error, or ctx's.
func (p *pendingStart) settle(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("ensure reaper: wait for the watchdog to get ready: %w", context.Cause(ctx))
	}
}

func settled(context.Context) error { return nil }

// launch does Ensure's work in two steps. It starts the watchdog process, unless one
// runs or is starting, and returns at once; the function it returns waits until the
// watchdog is ready and returns what Ensure would. From the moment the process exists
// it holds the pipe that tells it this process is gone, so a crash during the wait is
// cleaned up once it has run the binary's init functions.
func launch(ctx context.Context) (func(context.Context) error, error) {
	readyMu.Lock()
	defer readyMu.Unlock()
	if ready.Load() {
		return settled, nil
	}
	if starting != nil {
		return starting.settle, nil
	}
	if _, err := ParseKeepMode(os.Getenv(EnvKeep)); err != nil {
		return nil, fmt.Errorf("ensure reaper: %w", err)
	}
	off, err := reaperOff()
	if err != nil {
		return nil, fmt.Errorf("ensure reaper: %w", err)
	}
	if off {
		ready.Store(true)
		return settled, nil
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("ensure reaper: %w", err)
	}
	sp, err := spawnWatchdog(engine.SessionID())
	if err != nil {
		return nil, startError(err)
	}
	p := &pendingStart{done: make(chan struct{})}
	starting = p
	go p.finish(e, sp)
	return p.settle, nil
}

// finish waits for the watchdog launch started and records the outcome. It holds
// readyMu throughout, as Ensure did: a watchdog that dies right after it is ready is
// then seen by watchdogDied as the current one.
func (p *pendingStart) finish(e *engine.Engine, sp *spawned) {
	readyMu.Lock()
	defer close(p.done)
	defer readyMu.Unlock()
	starting = nil
	w, err := sp.wait(context.Background(), watchdogDied)
	switch {
	case errors.Is(err, ErrWatchdogNotReady):
		ready.Store(true)
		sweepOnce.Do(func() { go backgroundSweep(e) })
		p.err = fmt.Errorf("ensure reaper: %w\n%s", err, degradedHint)
	case err != nil:
		p.err = startError(err)
	default:
		wd = w
		ready.Store(true)
		sweepOnce.Do(func() { go backgroundSweep(e) })
	}
}

// startWatchdog starts the watchdog of session and waits until it is ready: died is
// called if it exits after that while this process lives.
func startWatchdog(ctx context.Context, session string, died func(*watchdog, error)) (*watchdog, error) {
	sp, err := spawnWatchdog(session)
	if err != nil {
		return nil, err
	}
	return sp.wait(ctx, died)
}

// startError is the error of a watchdog that could not be started or waited for.
func startError(err error) error {
	return fmt.Errorf("start watchdog: %w (set %s=off where the test binary cannot be re-executed)", err, EnvReaper)
}

// watchdogDied is called when a ready watchdog exits while this process lives (status
// is its exit error). It reports the death and starts another watchdog at once, so
// that a crash of this process right after is still cleaned up: any watchdog of the
// session removes all of the session's resources, whenever they were created.
func watchdogDied(w *watchdog, status error) {
	readyMu.Lock()
	defer readyMu.Unlock()
	if wd != w {
		return
	}
	wd = nil
	w.close()
	what := fmt.Sprintf("containertest: crash cleanup: the watchdog (pid %d) exited while the tests ran (%v)", w.pid, status)
	if restarts == maxRestarts {
		fmt.Fprintf(reportTo, "%s; it was replaced %d times already, so no other is started: %s\n", what, maxRestarts, degradedHint)
		return
	}
	restarts++
	nw, err := startWatchdog(context.Background(), engine.SessionID(), watchdogDied)
	if err != nil {
		fmt.Fprintf(reportTo, "%s; starting another failed: %v\n%s\n", what, err, degradedHint)
		return
	}
	wd = nw
	fmt.Fprintf(reportTo, "%s; started another (pid %d)\n", what, nw.pid)
}

func reaperOff() (bool, error) {
	switch v := os.Getenv(EnvReaper); v {
	case "", "on":
		return false, nil
	case "off":
		return true, nil
	default:
		return false, fmt.Errorf("parse %s=%q: want \"off\" or \"on\"", EnvReaper, v)
	}
}

// Labels returns a new map with the labels every managed resource carries: the
// engine's session labels, the pid namespace label the sweep needs, LabelKeep when
// CONTAINERTEST_KEEP=always, and LabelMarkerDir when CONTAINERTEST_KEEP=failed.
// Creators use it instead of engine.Labels.
func Labels() map[string]string {
	l := engine.Labels()
	if ns := procNS(); ns != "" {
		l[LabelProcNS] = ns
	}
	switch KeepMode() {
	case Always:
		l[engine.LabelKeep] = "true"
	case Failed:
		if d := markerDir(); d != "" {
			l[LabelMarkerDir] = d
		}
	}
	return l
}

// WithLabels returns user labels merged under Labels: a user label never overrides a
// framework label.
func WithLabels(user map[string]string) map[string]string {
	out := make(map[string]string, len(user)+8)
	maps.Copy(out, user)
	maps.Copy(out, Labels())
	return out
}

// Begin readies the creation of one resource: it connects to the engine, makes sure
// the watchdog runs (Ensure), and returns the labels the resource must carry: user
// labels under the framework's (WithLabels), plus the test's name when test is not "".
func Begin(ctx context.Context, user map[string]string, test string) (*engine.Engine, map[string]string, error) {
	e, labels, settle, err := BeginOverlapped(ctx, user, test)
	if err != nil {
		return nil, nil, err
	}
	if err := settle(ctx); err != nil {
		return nil, nil, err
	}
	return e, labels, nil
}

// BeginOverlapped is Begin for a caller that creates its resource while the first
// watchdog of the process gets ready (tens of milliseconds: the binary starts again):
// the watchdog process is started, not waited for. settle waits for it and returns
// what Ensure would; the caller calls it before it hands the resource out, and removes
// the resource when settle fails. A crash in between is cleaned up as after Ensure,
// unless the watchdog then fails to get ready: the resource is left to a later
// process's sweep, as every resource of a process without a watchdog is.
func BeginOverlapped(ctx context.Context, user map[string]string, test string) (e *engine.Engine, labels map[string]string, settle func(context.Context) error, err error) {
	e, err = engine.Get(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	settle = settled
	if !ready.Load() {
		if settle, err = launch(ctx); err != nil {
			return nil, nil, nil, err
		}
	}
	labels = WithLabels(user)
	if test != "" {
		labels[engine.LabelTest] = test
	}
	return e, labels, settle, nil
}

// LabelProcNS records the boot and pid namespace of the creating process, so that a
// sweep only judges pids it can see: "<boot id>/<pid namespace>".
const LabelProcNS = engine.LabelPrefix + "procns"

var procNS = sync.OnceValue(func() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(boot)) + "/" + ns
})

// CacheDir returns the directory for the framework's files: CONTAINERTEST_CACHE_DIR,
// or os.UserCacheDir()/containertest, or a private directory under os.TempDir when
// there is no user cache directory (see package cachedir).
func CacheDir() (string, error) { return cachedir.Dir() }

// reaperDir is CacheDir()/reaper, created if missing.
func reaperDir(sub string) (string, error) {
	d, err := CacheDir()
	if err != nil {
		return "", err
	}
	d = filepath.Join(d, "reaper", sub)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("create reaper dir: %w", err)
	}
	return d, nil
}
