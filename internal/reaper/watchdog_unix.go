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
	"syscall"
	"time"

	"github.com/containertest/containertest/internal/engine"
)

// The watchdog is dispatched from init: a binary started with envWatchdog set runs
// the watchdog and exits before any other code of the program (tests included) runs.
func init() {
	if s, ok := os.LookupEnv(envWatchdog); ok {
		os.Exit(runWatchdog(s))
	}
}

// watchdogFD is the descriptor of the pipe's read end in the watchdog
// (the first of exec.Cmd.ExtraFiles).
const watchdogFD = 3

// A watchdog is the parent's handle on a running watchdog process.
type watchdog struct {
	pid  int
	pipe *os.File // write end; closing it (or exiting) tells the watchdog to clean up
}

func (w *watchdog) close() { w.pipe.Close() }

// startWatchdog re-executes this binary as the watchdog of session. The watchdog does
// not hold this process's stdout or stderr (go test waits for those to close): its
// output goes to a log file under the cache directory, or nowhere.
func startWatchdog(session string) (*watchdog, error) {
	exe, err := os.Executable()
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
	logf := openWatchdogLog(session) // nil: the output is discarded
	if logf != nil {
		defer logf.Close()
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envWatchdog+"="+session, EnvCacheDir+"="+cache)
	cmd.ExtraFiles = []*os.File{r}
	if logf != nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	// Its own process group: a Ctrl-C to the tests' group does not reach it. Its
	// working directory is "/", so that it pins no directory a test may remove.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	wd := &watchdog{pid: cmd.Process.Pid, pipe: w}
	// Reap it if it exits while this process lives (no zombie), and let the next
	// Ensure start a new one. Normally it outlives this process and init reaps it.
	go func() {
		cmd.Wait()
		watchdogDied(wd)
	}()
	return wd, nil
}

func openWatchdogLog(session string) *os.File {
	dir, err := reaperDir("log")
	if err != nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, session+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	return f
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
	// Anything else on fd 3 means it was not started by startWatchdog: do nothing.
	if st, err := pipe.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		logger.Printf("read parent pipe: fd %d is not a pipe (%v)", watchdogFD, err)
		return 2
	}
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
