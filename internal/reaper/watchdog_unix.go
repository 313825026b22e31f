//go:build unix

package reaper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containertest/containertest/internal/engine"
)

// The watchdog is dispatched from init: a binary started with envWatchdog set runs
// the watchdog and exits, before main and before the init functions of the packages
// initialized after this one. Those initialized before it have run (see startWatchdog).
func init() {
	if s, ok := os.LookupEnv(envWatchdog); ok {
		os.Exit(runWatchdog(s))
	}
}

// The watchdog's descriptors (exec.Cmd.ExtraFiles): the read end of the pipe that
// tells it the parent is gone, and the write end of the pipe on which it says it is
// ready.
const (
	watchdogFD = 3
	readyFD    = 4
)

// A watchdog is the parent's handle on a running watchdog process.
type watchdog struct {
	pid  int
	pipe *os.File // write end; closing it (or exiting) tells the watchdog to clean up
}

func (w *watchdog) close() { w.pipe.Close() }

// readyTimeout bounds the wait for a new watchdog to say it is ready: the time Go
// takes to start the binary again and run the init functions that come before this
// package's.
var readyTimeout = 30 * time.Second

// watchdogStarts counts the watchdog processes this process started, for tests.
var watchdogStarts atomic.Int64

// A spawned watchdog has been started, holds the pipe that tells it this process is
// gone, and is getting ready: from here a crash of this process is cleaned up once the
// watchdog has run the binary's init functions.
type spawned struct {
	cmd      *exec.Cmd
	pipe     *os.File // write end of the parent pipe
	readyR   *os.File
	logf     *os.File // nil: its output is discarded
	logStart int64
	waiter   *waiter
}

// spawnWatchdog re-executes this binary as the watchdog of session; its wait method
// waits until it says it is ready (startWatchdog does both).
//
// Go runs the init functions of this package's dependencies and of the packages whose
// import paths sort before it in the watchdog too, before this package's init
// dispatches to it (the order of the Go spec since Go 1.21). So
// that they behave as they did in this process, the watchdog starts with this
// process's working directory, environment and argv[0]; it moves to "/" once ready.
// If it exits (or hangs) before it is ready, the error wraps ErrWatchdogNotReady and
// quotes its output.
//
// The watchdog does not hold this process's stdout or stderr (go test waits for those
// to close): its output goes to a log file under the cache directory, or nowhere.
func spawnWatchdog(session string) (*spawned, error) {
	exe, err := executable()
	if err != nil {
		return nil, fmt.Errorf("find executable: %w", err)
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	defer r.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	logf, logStart := openWatchdogLog(session) // nil: the output is discarded
	argv0 := exe
	if len(os.Args) > 0 {
		argv0 = os.Args[0]
	}
	// No Dir: it inherits this process's working directory, even one removed meanwhile.
	cmd := &exec.Cmd{Path: exe, Args: []string{argv0},
		Env:        append(os.Environ(), envWatchdog+"="+session, EnvCacheDir+"="+cache),
		ExtraFiles: []*os.File{r, readyW}}
	if logf != nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	// Its own process group: a Ctrl-C to the tests' group does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	readyW.Close() // the watchdog's copy is the only one: end-of-file when it exits
	if err != nil {
		w.Close()
		readyR.Close()
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	watchdogStarts.Add(1)
	sp := &spawned{cmd: cmd, pipe: w, readyR: readyR, logf: logf, logStart: logStart,
		waiter: &waiter{exited: make(chan error, 1)}}
	go waitWatchdog(cmd, sp.waiter) // reaps it: no zombie
	return sp, nil
}

// wait waits until the spawned watchdog says it is ready and returns its handle; died
// is called if it exits after that while this process lives. A watchdog that exits or
// hangs first is killed, and the error wraps ErrWatchdogNotReady and quotes its output.
func (sp *spawned) wait(ctx context.Context, died func(*watchdog, error)) (*watchdog, error) {
	defer sp.readyR.Close()
	if sp.logf != nil {
		defer sp.logf.Close()
	}
	cmd, exited := sp.cmd, sp.waiter.exited
	if err := waitReady(ctx, sp.readyR); err != nil {
		sp.pipe.Close()
		cmd.Process.Kill() // a no-op once it has exited
		status := <-exited
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for watchdog pid %d: %w", cmd.Process.Pid, context.Cause(ctx))
		}
		what := fmt.Sprintf("exited before it was ready (%v): an init function of a package in the binary probably ends it", status)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			what = fmt.Sprintf("was not ready after %v and was killed: an init function of a package in the binary probably blocks", readyTimeout)
		}
		return nil, fmt.Errorf("%w: pid %d %s; %s", ErrWatchdogNotReady, cmd.Process.Pid, what, watchdogOutput(sp.logf, sp.logStart))
	}
	wd := &watchdog{pid: cmd.Process.Pid, pipe: sp.pipe}
	// Normally it outlives this process and init reaps it.
	if exitedAlready := sp.waiter.ready(wd, died); exitedAlready {
		go died(wd, <-exited)
	}
	return wd, nil
}

// A waiter hands the exit status of a watchdog process either to whoever waits for it
// to get ready (exited) or, once it is ready, to the died callback.
type waiter struct {
	mu     sync.Mutex
	exited chan error // buffered: receives the status while the watchdog is not ready
	wd     *watchdog
	died   func(*watchdog, error)
	done   bool
}

// ready switches w to calling died; it returns true when the process had already
// exited, its status then being in w.exited.
func (w *waiter) ready(wd *watchdog, died func(*watchdog, error)) (exitedAlready bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wd, w.died = wd, died
	return w.done
}

// waitWatchdog is the one goroutine the framework keeps for the life of a test
// process (leakcheck.WatchdogWaiter names it for goleak): it waits for the watchdog
// process, so that it is reaped, and reports its exit.
func waitWatchdog(cmd *exec.Cmd, w *waiter) {
	status := cmd.Wait()
	w.mu.Lock()
	wd, died := w.wd, w.died
	w.done = true
	w.mu.Unlock()
	if died != nil {
		died(wd, status)
		return
	}
	w.exited <- status
}

// waitReady waits for the watchdog's ready byte and the end of the ready pipe (the
// watchdog closes it right after), for up to readyTimeout or until ctx ends. It returns
// io.ErrUnexpectedEOF when the watchdog exited without the byte.
func waitReady(ctx context.Context, ready *os.File) error {
	if err := ready.SetReadDeadline(time.Now().Add(readyTimeout)); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { ready.SetReadDeadline(time.Now()) })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(ready, 2))
	if err != nil {
		return err
	}
	if string(b) != "R" {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// executable returns the path to start this binary again: /proc/self/exe on Linux,
// which names this process's binary even when its file was removed or replaced.
func executable() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			return "/proc/self/exe", nil
		}
	}
	return os.Executable()
}

// openWatchdogLog opens the session's watchdog log for appending and returns its
// current size, where the new watchdog's output begins.
func openWatchdogLog(session string) (*os.File, int64) {
	dir, err := reaperDir("log")
	if err != nil {
		return nil, 0
	}
	f, err := os.OpenFile(filepath.Join(dir, session+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0
	}
	return f, st.Size()
}

// watchdogOutput describes what a watchdog wrote to log from offset on, for a report:
// at most the last few KiB, indented.
func watchdogOutput(log *os.File, offset int64) string {
	if log == nil {
		return "its output was not captured"
	}
	const max = 4 << 10
	f, err := os.Open(log.Name())
	if err != nil {
		return fmt.Sprintf("its output is in %s", log.Name())
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size()-offset > max {
		offset = st.Size() - max
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, offset, max))
	out := strings.TrimRight(string(b), "\n")
	if out == "" {
		return "it wrote nothing"
	}
	return fmt.Sprintf("its output (in %s):\n\t%s", log.Name(), strings.ReplaceAll(out, "\n", "\n\t"))
}

// Watchdog timing.
var (
	// secondPassDelay is how long after the first removal pass the watchdog looks again,
	// for resources whose creation was in flight when the parent died.
	secondPassDelay = time.Second
	// engineRetry bounds how long the watchdog retries an engine that does not answer.
	engineRetry = time.Minute
)

// runWatchdog is the whole life of a watchdog process; it returns the exit code.
func runWatchdog(session string) int {
	logger := log.New(os.Stderr, "containertest watchdog "+session+": ", log.LstdFlags|log.Lmicroseconds)
	if !validSession(session) {
		logger.Printf("invalid session id %q", session)
		return 2
	}
	// The tests' terminal and process group may go away; the watchdog must outlive them.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU)

	pipe := os.NewFile(watchdogFD, "watchdog-pipe")
	ready := os.NewFile(readyFD, "ready-pipe")
	// Anything else on fd 3 or 4 means it was not started by startWatchdog: do nothing.
	for _, f := range []*os.File{pipe, ready} {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
			logger.Printf("fd %d is not a pipe (%v)", f.Fd(), err)
			return 2
		}
	}
	// The init functions that run before this one are done: give up the tests' working
	// directory, so that no directory or mount is pinned, and say so.
	if err := os.Chdir("/"); err != nil {
		logger.Printf("chdir /: %v", err)
	}
	// A parent that is gone already (it died while this process started, having made
	// resources meanwhile: reaper.BeginOverlapped) has closed the read end: the write
	// fails, the parent pipe reads end-of-file, and the session is cleaned up.
	if _, err := ready.Write([]byte{'R'}); err != nil {
		logger.Printf("write ready: %v (the parent is gone)", err)
	}
	ready.Close()
	// Block until the parent exits: every write end is then closed.
	if _, err := io.Copy(io.Discard, pipe); err != nil {
		logger.Printf("read parent pipe: %v (cleaning up)", err)
	}
	pipe.Close()

	if err := cleanSession(session, logger); err != nil {
		logger.Printf("clean up: %v", err)
		return 1
	}
	// Nothing to report: the log is only kept when something went wrong.
	if d, err := CacheDir(); err == nil {
		os.Remove(filepath.Join(d, "reaper", "log", session+".log"))
	}
	return 0
}

func validSession(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// cleanSession removes the session's resources that are not kept, twice: the second
// pass catches resources whose creation was in flight when the parent died.
func cleanSession(session string, logger *log.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), engineRetry+2*time.Minute)
	defer cancel()
	var e *engine.Engine
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		var err error
		e, err = engine.Connect(ctx, engine.EnvironFromOS())
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Since(startTime) > engineRetry {
			return fmt.Errorf("connect engine: %w", err)
		}
		logger.Printf("connect engine: %v (retrying)", err)
		time.Sleep(delay)
	}
	defer e.Client.Close()
	var errs []error
	for pass := range 2 {
		if pass > 0 {
			time.Sleep(secondPassDelay)
		}
		removed, err := removeSession(ctx, e, session)
		for _, r := range removed {
			logger.Printf("removed %v", r)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var startTime = time.Now()
