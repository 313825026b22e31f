// Package reaper makes the cleanup of containers, networks and volumes crash-safe
// without a reaper image.
//
// Call Ensure before creating each resource. The first call of a process
//
//   - starts a watchdog: the running binary re-executed with a hidden environment
//     variable, so that the init function of this package runs the watchdog instead of
//     the program (every test binary that uses the framework imports this package). The
//     watchdog lives in its own process group, so a Ctrl-C to the tests does not reach it,
//     and holds the read end of a pipe whose write end only this process has. When this
//     process exits for any reason (normal exit, panic, test timeout, SIGKILL, Ctrl-C),
//     the pipe reads end-of-file and the watchdog removes every container (forced, with
//     its anonymous volumes), then network, then volume that carries this process's
//     session label and is not kept, and exits;
//   - starts, in the background, a sweep of resources that earlier processes on this
//     host left behind: a resource is removed only when its owner process is provably
//     gone (same host and pid namespace, and no process with the recorded pid and start
//     time exists) and it is not kept.
//
// Later calls cost an atomic load. If the watchdog cannot be started, Ensure returns the
// error and the next call tries again; if the watchdog dies early, the next call starts a
// new one.
//
// Keep mode (CONTAINERTEST_KEEP=failed or always) leaves resources in place for
// debugging. Labels cannot change after creation, so a kept resource is recognised in
// one of two ways: with CONTAINERTEST_KEEP=always the creator puts LabelKeep on it (Labels
// does that), and a resource kept because its test failed is recorded with MarkKept as
// a marker file under the cache directory, which the watchdog and the sweep read.
// Report prints how to get into kept containers and one command that removes them.
//
// CONTAINERTEST_REAPER=off turns the watchdog and the sweep off, for platforms where the
// binary cannot be re-executed; cleanup then relies on the tests' own cleanup alone.
package reaper

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/containertest/containertest/internal/engine"
)

// Environment variables read by this package.
const (
	// EnvKeep selects the keep mode: "failed", "always", or empty (never).
	EnvKeep = "CONTAINERTEST_KEEP"
	// EnvCacheDir overrides the cache directory (default: os.UserCacheDir()/containertest).
	EnvCacheDir = "CONTAINERTEST_CACHE_DIR"
	// EnvReaper set to "off" disables the watchdog and the sweep.
	EnvReaper = "CONTAINERTEST_REAPER"

	// envWatchdog is the hidden variable that makes a re-executed binary run the
	// watchdog for the session it names.
	envWatchdog = "CONTAINERTEST_INTERNAL_WATCHDOG"
)

var (
	// ready is true once the watchdog runs (or the reaper is off); it makes Ensure cheap.
	ready   atomic.Bool
	readyMu sync.Mutex
	// wd is the running watchdog; its pipe's write end must stay open (and reachable, so
	// that no finalizer closes it) for the life of the process.
	wd        *watchdog
	sweepOnce sync.Once
)

// Ensure makes sure this process's resources are removed even if the process dies:
// on first use it starts the watchdog and a background sweep of dead sessions'
// resources. Call it before creating each container, network or volume; after the
// first successful call it returns at once. A failure is returned (wrapping
// engine.ErrUnavailable when no engine answers) and the next call tries again.
func Ensure(ctx context.Context) error {
	if ready.Load() {
		return nil
	}
	return ensureSlow(ctx)
}

func ensureSlow(ctx context.Context) error {
	readyMu.Lock()
	defer readyMu.Unlock()
	if ready.Load() {
		return nil
	}
	if _, err := ParseKeepMode(os.Getenv(EnvKeep)); err != nil {
		return fmt.Errorf("ensure reaper: %w", err)
	}
	off, err := reaperOff()
	if err != nil {
		return fmt.Errorf("ensure reaper: %w", err)
	}
	if off {
		ready.Store(true)
		return nil
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return fmt.Errorf("ensure reaper: %w", err)
	}
	w, err := startWatchdog(engine.SessionID())
	if err != nil {
		return fmt.Errorf("start watchdog: %w (set %s=off where the test binary cannot be re-executed)", err, EnvReaper)
	}
	wd = w
	ready.Store(true)
	sweepOnce.Do(func() { go backgroundSweep(e) })
	return nil
}

// watchdogDied is called when the watchdog process exits while this process lives,
// so that the next Ensure starts a new one.
func watchdogDied(w *watchdog) {
	readyMu.Lock()
	defer readyMu.Unlock()
	if wd == w {
		wd = nil
		w.close()
		ready.Store(false)
	}
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
// engine's session labels, the pid namespace label the sweep needs, and LabelKeep when
// CONTAINERTEST_KEEP=always. Creators use it instead of engine.Labels.
func Labels() map[string]string {
	l := engine.Labels()
	if ns := procNS(); ns != "" {
		l[LabelProcNS] = ns
	}
	if KeepMode() == Always {
		l[engine.LabelKeep] = "true"
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
	e, err := engine.Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := Ensure(ctx); err != nil {
		return nil, nil, err
	}
	labels := WithLabels(user)
	if test != "" {
		labels[engine.LabelTest] = test
	}
	return e, labels, nil
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
// or os.UserCacheDir()/containertest.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w (set %s)", err, EnvCacheDir)
	}
	return filepath.Join(d, "containertest"), nil
}

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
