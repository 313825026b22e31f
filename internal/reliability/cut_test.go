package reliability

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/leakcheck"
	"github.com/containertest/containertest/internal/waitwire"
	"github.com/containertest/containertest/wait"
)

// blockUntil is a strategy that closes began when the wait reaches it and then waits
// for ctx, so that the test knows the wait is under way.
func blockUntil(began chan<- struct{}) wait.Strategy {
	return wait.ForFunc(func(ctx context.Context, _ wait.Target) error {
		close(began)
		<-ctx.Done()
		return ctx.Err()
	})
}

func TestChildEngineCut(t *testing.T) {
	asChild(t)
	ctx := context.Background()

	// Warm up: the watchdog and the client exist before the cuts.
	containers.Image(busybox).Cmd("sleep", "300").Start(t).Terminate(ctx)

	// 1. Cut in the middle of a wait.
	const deadline = 20 * time.Second
	began := make(chan struct{})
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		c, err := containers.Image(busybox).Cmd("sleep", "300").
			WaitFor(wait.All(wait.ForLog("never printed"), blockUntil(began))).
			StartTimeout(deadline).Run(ctx)
		if c != nil {
			_ = c.Terminate(ctx)
		}
		done <- result{err, time.Now()}
	}()
	<-began
	ask(t, "cut")
	cut := time.Now()
	var r result
	select {
	case r = <-done:
	case <-time.After(deadline + 10*time.Second):
		t.Fatalf("the wait hung %v after the engine connection was cut", deadline+10*time.Second)
	}
	t.Logf("child: figure: cut_wait_to_error_ms %d", r.at.Sub(cut).Milliseconds())
	t.Logf("child: error: %v", r.err)
	if r.err == nil {
		t.Error("Run succeeded with the engine connection cut")
	} else if !mentionsEngine(r.err) {
		t.Errorf("the error does not name the engine: %v", r.err)
	}

	// 2. Restored: the next Start works, and a die that happened while the stream was
	// down is not missed. The container dies 2 s after its start; the cut lasts 4 s.
	ask(t, "restore")
	// Run could not remove its container while the engine was away: it says so in its
	// error, and the watchdog removes the container when this process ends (the parent
	// checks). Count what is left now.
	t.Logf("child: figure: left_after_cut_wait %d", len(leakcheck.Session(ctx)))
	dying := containers.Image(busybox).Cmd("sh", "-c", "sleep 2; exit 7").KillOnTeardown().Start(t)
	t.Logf("child: started %s after the restore", dying.Name())
	ask(t, "cut")
	time.Sleep(4 * time.Second)
	ask(t, "restore")
	if !waitExited(dying, 7, 15*time.Second) {
		t.Errorf("the die of %s during the cut never reached Status (status %+v)", dying.Name(), statusOf(dying))
	} else {
		t.Logf("child: the die during the cut was seen after the restore: %+v", statusOf(dying))
	}

	// 3. Cut in the middle of a build.
	dir := t.TempDir()
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	df := "FROM " + busybox + "\nRUN echo " + stamp + " && sleep 4\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	bdone := make(chan result, 1)
	go func() {
		c, err := containers.Build(dir).Cmd("true").WaitFor(wait.ForExit(0)).Run(bctx)
		if c != nil {
			_ = c.Terminate(ctx)
		}
		bdone <- result{err, time.Now()}
	}()
	time.Sleep(1500 * time.Millisecond)
	ask(t, "cut")
	cut = time.Now()
	select {
	case r = <-bdone:
	case <-time.After(70 * time.Second):
		t.Fatal("the build hung after the engine connection was cut")
	}
	t.Logf("child: figure: cut_build_to_error_ms %d", r.at.Sub(cut).Milliseconds())
	t.Logf("child: error: %v", r.err)
	if r.err == nil {
		t.Error("the build succeeded with the engine connection cut")
	} else if !mentionsEngine(r.err) {
		t.Errorf("the build error does not name the engine: %v", r.err)
	}
	ask(t, "restore")

	// 4. After the restore everything works again, and nothing stayed behind.
	c := containers.Image(busybox).Cmd("sleep", "300").Expose("80").WaitFor(wait.ForExec("true")).Start(t)
	if _, err := c.Exec(ctx, "true"); err != nil {
		t.Errorf("exec after the restore: %v", err)
	}
	if err := c.Terminate(ctx); err != nil {
		t.Errorf("terminate after the restore: %v", err)
	}
	if err := dying.Terminate(ctx); err != nil {
		t.Errorf("terminate %s after the restore: %v", dying.Name(), err)
	}
	// The event stream closes with its last container; idle connections are closed
	// (a connection still in use is reported); only the watchdog's waiter may stay.
	if err := leakcheck.Goroutines(); err != nil {
		t.Errorf("goroutines left behind by the cut calls: %v", err)
	}
}

// waitExited waits until c's Status says it exited with code.
func waitExited(c *containers.Container, code int, within time.Duration) bool {
	deadline := time.After(within)
	for {
		ch := waitwire.Enrich(c).(waitwire.Observed).StatusChanged()
		if st := statusOf(c); st.Exited {
			return st.ExitCode == code
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func TestChildEventStreamDropped(t *testing.T) {
	asChild(t)
	ctx := context.Background()
	a := containers.Image(busybox).Cmd("sh", "-c", "sleep 3; exit 5").KillOnTeardown().Start(t)
	b := containers.Image(busybox).Cmd("sleep", "300").KillOnTeardown().Start(t)
	n, _ := strconv.Atoi(ask(t, "drop-events"))
	t.Logf("child: dropped %d event stream(s)", n)
	if n == 0 {
		t.Fatal("no event stream to drop: the framework opened none through the proxy")
	}
	// b is killed right after the drop, a dies on its own: both exits must arrive.
	if err := b.Kill(ctx, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if !waitExited(b, 137, 15*time.Second) {
		t.Errorf("the kill of %s after the drop never reached Status: %+v", b.Name(), statusOf(b))
	}
	if !waitExited(a, 5, 15*time.Second) {
		t.Errorf("the exit of %s after the drop never reached Status: %+v", a.Name(), statusOf(a))
	}
	if got, _ := strconv.Atoi(ask(t, "event-streams")); got == 0 {
		t.Error("the event stream was not opened again")
	}
	// A wait that depends on the stream still ends at the exit.
	_, err := containers.Image(busybox).Cmd("sh", "-c", "sleep 1; exit 4").WaitFor(wait.ForLog("never printed")).StartTimeout(20 * time.Second).Run(ctx)
	if !errors.Is(err, wait.ErrExited) || !strings.Contains(err.Error(), "4") {
		t.Errorf("wait after the stream was re-opened: %v, want wait.ErrExited naming exit 4", err)
	}
	t.Logf("child: event stream re-opened, no exit missed")
}

// statusOf is c's state from the engine's events, as the strategies see it.
func statusOf(c *containers.Container) waitwire.Status {
	return waitwire.Enrich(c).(waitwire.Observed).Status()
}
