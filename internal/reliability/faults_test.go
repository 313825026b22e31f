package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	dvolume "github.com/containertest/containertest/internal/engine/docker/volume"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

// figure logs a measured value in a form scripts/reliability.sh collects:
// "figure: NAME VALUE".
func figure(t testing.TB, name string, value any) {
	t.Helper()
	t.Logf("figure: %s %v", name, value)
}

// containerByName waits until the engine has a running container named name, and
// returns its id.
func containerByName(ctx context.Context, t *testing.T, name string) string {
	t.Helper()
	eng := testimages.Engine(t)
	for {
		cs, err := eng.Client.ContainerList(ctx, container.ListOptions{
			Filters: filters.NewArgs(filters.Arg("name", "^/"+name+"$"), filters.Arg("status", "running")),
		})
		if err != nil {
			t.Fatalf("list containers: %v", err)
		}
		if len(cs) == 1 {
			return cs[0].ID
		}
		select {
		case <-ctx.Done():
			t.Fatalf("container %s never ran: %v", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var nameSeq int

func uniqueName(prefix string) string {
	nameSeq++
	return fmt.Sprintf("ct-rel-%s-%s-%d", prefix, engine.SessionID()[:6], nameSeq)
}

// TestFaultKilledDuringWait kills a container from outside while Start waits for it:
// the wait must end at once with an error that names the exit.
func TestFaultKilledDuringWait(t *testing.T) {
	testimages.Busybox(t)
	eng := testimages.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := uniqueName("kill")
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	// noticed is when the wait's context ended: the moment the framework knew of the
	// exit, before the removal that Run does on failure.
	noticed := make(chan time.Time, 1)
	probe := wait.ForFunc(func(ctx context.Context, _ wait.Target) error {
		<-ctx.Done()
		noticed <- time.Now()
		return ctx.Err()
	})
	go func() {
		c, err := containers.Image(busybox).Named(name).Cmd("sleep", "300").
			WaitFor(wait.All(wait.ForLog("never printed"), probe)).StartTimeout(45 * time.Second).Run(ctx)
		if c != nil {
			_ = c.Terminate(ctx)
		}
		done <- result{err, time.Now()}
	}()
	id := containerByName(ctx, t, name)
	time.Sleep(200 * time.Millisecond) // let the wait begin
	killed := time.Now()
	if err := eng.Client.ContainerKill(ctx, id, "SIGKILL"); err != nil {
		t.Fatalf("kill from outside: %v", err)
	}
	r := <-done
	var latency time.Duration
	select {
	case at := <-noticed:
		latency = at.Sub(killed)
	default:
		t.Error("the wait's context never ended")
	}
	figure(t, "kill_to_wait_end_ms", latency.Milliseconds())
	figure(t, "kill_to_error_ms", r.at.Sub(killed).Milliseconds())
	if r.err == nil {
		t.Fatal("Run succeeded after its container was killed")
	}
	t.Logf("error: %v", r.err)
	if !errors.Is(r.err, wait.ErrExited) || !errors.Is(r.err, wait.ErrNotReady) {
		t.Errorf("error wraps neither wait.ErrExited nor wait.ErrNotReady")
	}
	if !strings.Contains(r.err.Error(), "137") {
		t.Errorf("error does not name the exit code 137")
	}
	if latency > 2*time.Second {
		t.Errorf("the wait ended %v after the kill; the exit should end it at once", latency)
	}
}

// TestFaultOOM runs a container into its memory limit: the error says it was killed
// for want of memory.
func TestFaultOOM(t *testing.T) {
	testimages.Busybox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// tail buffers a line that never ends: it grows until the limit kills it.
	c, err := containers.Image(busybox).Cmd("tail", "/dev/zero").Memory(16 << 20).
		Modify(func(_ *container.Config, hc *container.HostConfig) { hc.MemorySwap = 16 << 20 }).
		WaitFor(wait.ForLog("never printed")).StartTimeout(45 * time.Second).Run(ctx)
	if c != nil {
		_ = c.Terminate(ctx)
	}
	if err == nil {
		t.Fatal("Run succeeded; the process should have been killed for memory")
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, wait.ErrExited) {
		t.Errorf("error does not wrap wait.ErrExited")
	}
	if !regexp.MustCompile(`(?i)\boom\b|out of memory`).MatchString(err.Error()) {
		t.Errorf("error does not say the container was killed for want of memory")
	}
}

// TestFaultBuildContextDeleted deletes the build context directory while its build
// runs: the build fails naming the context, or succeeds with the whole context; it
// never hangs and never caches an image of part of it.
func TestFaultBuildContextDeleted(t *testing.T) {
	testimages.Busybox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dir := t.TempDir()
	const files = 2000
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10) // a key never built before
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), []byte(strings.Repeat(stamp, 200)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	df := "FROM " + busybox + "\nCOPY . /ctx/\nRUN test $(ls /ctx | grep -c '^f') -eq " + strconv.Itoa(files) + "\nCMD [\"sleep\", \"300\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := containers.Build(dir).KillOnTeardown().Run(ctx)
		if c != nil {
			_ = c.Terminate(ctx)
		}
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Logf("error: %v", err)
			figure(t, "context_deleted_outcome", "error")
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error does not name the context %s", dir)
			}
		} else {
			figure(t, "context_deleted_outcome", "built-whole")
		}
	case <-ctx.Done():
		t.Fatal("the build hung after its context was deleted")
	}
}

// --- faults run in a child process ------------------------------------------------

// envChild names the child test a process runs; envCtl says that the child's stdin and
// stdout are the control channel of runChild.
const envChild = "CONTAINERTEST_RELIABILITY_CHILD"

// childLine is a line the child writes to ask its parent for something.
const childLine = "ctl: "

// asParent runs the test named name again in a child process (this binary, -test.run)
// reaching the engine through proxy (nil: directly). The child asks for proxy.Cut,
// proxy.Restore and proxy.DropEvents by printing "ctl: cut" and so on, and waits for an
// "ok" line on its stdin. asParent returns the child's verbose output once the child
// has ended and its resources are gone (the child's watchdog removes what it left;
// the proxy stays up meanwhile, since the watchdog reaches the engine through it too).
func asParent(t *testing.T, name string, proxy *Proxy) string {
	t.Helper()
	return runChild(t, name, proxy, false)
}

// asParentExpectingFailure is asParent for a child test that fails on purpose with
// CONTAINERTEST_KEEP=failed: what it kept is removed here, by the child's pid label.
func asParentExpectingFailure(t *testing.T, name string) string {
	t.Helper()
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir()) // its keep records go there
	return runChild(t, name, nil, true)
}

func runChild(t *testing.T, name string, proxy *Proxy, wantFail bool) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run", "^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+name, "CONTAINERTEST_REQUIRE_DOCKER=1")
	if proxy != nil {
		cmd.Env = append(cmd.Env, "DOCKER_HOST=unix://"+proxy.Path())
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		i := strings.Index(line, childLine)
		if i < 0 {
			continue
		}
		verb := strings.TrimSpace(line[i+len(childLine):])
		reply := "ok"
		switch verb {
		case "cut":
			proxy.Cut()
		case "restore":
			if err := proxy.Restore(); err != nil {
				reply = err.Error()
			}
		case "drop-events":
			reply = "ok " + strconv.Itoa(proxy.DropEvents())
		case "event-streams":
			reply = "ok " + strconv.Itoa(proxy.EventStreams())
		default:
			reply = "unknown request " + verb
		}
		fmt.Fprintln(stdin, reply)
	}
	err = cmd.Wait()
	t.Logf("child %s:\n%s%s", name, out.String(), stderr.String())
	switch {
	case wantFail && err == nil:
		t.Errorf("child %s passed; it should have failed", name)
	case !wantFail && err != nil:
		t.Errorf("child %s failed: %v", name, err)
	}
	if wantFail {
		removeByPID(t, pid)
	}
	waitGone(t, pid)
	return out.String()
}

// removeByPID removes what the process pid made (its kept resources).
func removeByPID(t *testing.T, pid int) {
	t.Helper()
	eng := testimages.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := pidFilter(pid)
	cs, _ := eng.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	for _, c := range cs {
		_ = eng.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	ns, _ := eng.Client.NetworkList(ctx, dnetwork.ListOptions{Filters: f})
	for _, n := range ns {
		_ = eng.Client.NetworkRemove(ctx, n.ID)
	}
	vs, _ := eng.Client.VolumeList(ctx, dvolume.ListOptions{Filters: f})
	for _, v := range vs.Volumes {
		_ = eng.Client.VolumeRemove(ctx, v.Name, true)
	}
}

func pidFilter(pid int) filters.Args {
	return filters.NewArgs(filters.Arg("label", engine.LabelPID+"="+strconv.Itoa(pid)),
		filters.Arg("label", engine.LabelHost+"="+engine.HostName()))
}

// waitGone waits until nothing made by the process pid is left on the engine.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	eng := testimages.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := pidFilter(pid)
	var left []string
	for {
		left = left[:0]
		cs, _ := eng.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		for _, c := range cs {
			left = append(left, "container "+strings.Join(c.Names, ","))
		}
		ns, _ := eng.Client.NetworkList(ctx, dnetwork.ListOptions{Filters: f})
		for _, n := range ns {
			left = append(left, "network "+n.Name)
		}
		vs, _ := eng.Client.VolumeList(ctx, dvolume.ListOptions{Filters: f})
		for _, v := range vs.Volumes {
			left = append(left, "volume "+v.Name)
		}
		if len(left) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("the child process %d left on the engine: %s", pid, strings.Join(left, "; "))
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// asChild skips the test unless this process is the child asParent started for it.
func asChild(t *testing.T) {
	if os.Getenv(envChild) != t.Name() {
		t.Skip("runs in a child process of its parent test")
	}
}

var stdinLines = sync.OnceValue(func() *bufio.Scanner { return bufio.NewScanner(os.Stdin) })

// ask sends a request to the parent and returns its answer.
func ask(t *testing.T, verb string) string {
	t.Helper()
	fmt.Printf("%s%s\n", childLine, verb)
	sc := stdinLines()
	if !sc.Scan() {
		t.Fatalf("parent gave no answer to %q", verb)
	}
	ans := sc.Text()
	if !strings.HasPrefix(ans, "ok") {
		t.Fatalf("parent refused %q: %s", verb, ans)
	}
	return strings.TrimSpace(strings.TrimPrefix(ans, "ok"))
}

// quietOutput fails when the child's output has lines other than the test runner's
// and the child's own "child:" logs: a cleanup that complained.
func quietOutput(t *testing.T, out string) {
	t.Helper()
	ok := regexp.MustCompile(`^(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|SKIP)|PASS$|ok |\s+\w+_test\.go:\d+: child: |\s*$)`)
	for _, l := range strings.Split(out, "\n") {
		if !ok.MatchString(l) {
			t.Errorf("cleanup was not quiet: %q", l)
		}
	}
}

// TestFaultRemovedFromOutside removes a test's container behind the framework's back:
// the test's cleanup stays quiet and leaves nothing.
func TestFaultRemovedFromOutside(t *testing.T) {
	testimages.Busybox(t)
	quietOutput(t, asParent(t, "TestChildRemovedFromOutside", nil))
}

func TestChildRemovedFromOutside(t *testing.T) {
	asChild(t)
	ctx := context.Background()
	c := containers.Image(busybox).Cmd("sleep", "300").Start(t)
	v := containers.Image(busybox).Cmd("sleep", "300").GracefulStop(5 * time.Second).Start(t)
	eng := testimages.Engine(t)
	for _, x := range []*containers.Container{c, v} {
		if err := eng.Client.ContainerRemove(ctx, x.ID(), container.RemoveOptions{Force: true}); err != nil {
			t.Fatalf("remove from outside: %v", err)
		}
	}
	t.Logf("child: removed %s and %s from outside", c.Name(), v.Name())
}

// TestFaultNetworkRemovedFromOutside removes a test's network (after disconnecting its
// container) behind the framework's back: Inspect says it was removed, and the
// cleanup stays quiet and leaves nothing.
func TestFaultNetworkRemovedFromOutside(t *testing.T) {
	testimages.Busybox(t)
	quietOutput(t, asParent(t, "TestChildNetworkRemovedFromOutside", nil))
}

func TestChildNetworkRemovedFromOutside(t *testing.T) {
	asChild(t)
	ctx := context.Background()
	n := network.New(t)
	c := containers.Image(busybox).Cmd("sleep", "300").On(n, "app").Start(t)
	eng := testimages.Engine(t)
	if err := eng.Client.NetworkDisconnect(ctx, n.ID(), c.ID(), true); err != nil {
		t.Fatalf("disconnect from outside: %v", err)
	}
	if err := eng.Client.NetworkRemove(ctx, n.ID()); err != nil {
		t.Fatalf("remove network from outside: %v", err)
	}
	if _, err := n.Inspect(ctx); !errors.Is(err, network.ErrRemoved) {
		t.Errorf("Inspect of a network removed from outside: %v, want network.ErrRemoved", err)
	}
	t.Logf("child: removed network %s from outside", n.Name())
}

// upstreamSocket is the engine's unix socket, or "" when the engine is not reached
// through one.
func upstreamSocket() string {
	h := os.Getenv("DOCKER_HOST")
	if h == "" {
		return engine.DefaultSocket
	}
	if p, ok := strings.CutPrefix(h, "unix://"); ok {
		return p
	}
	return ""
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	up := upstreamSocket()
	if up == "" {
		t.Skip("the engine is not reached through a unix socket; the proxy cannot stand in front of it")
	}
	dir, err := os.MkdirTemp("", "ct-proxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p, err := NewProxy(filepath.Join(dir, "docker.sock"), up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestFaultEngineCut cuts the engine connection (a proxy in front of the engine) in the
// middle of a wait and of a build: each call fails within its deadline naming the
// engine, leaves no goroutine behind, and after the connection is restored the next
// Start works and the event stream has missed no die.
func TestFaultEngineCut(t *testing.T) {
	testimages.Busybox(t)
	asParent(t, "TestChildEngineCut", newProxy(t))
}

// TestFaultEventStreamDropped drops only the event stream while containers run: it is
// opened again and no exit is missed.
func TestFaultEventStreamDropped(t *testing.T) {
	testimages.Busybox(t)
	asParent(t, "TestChildEventStreamDropped", newProxy(t))
}

// mentionsEngine reports whether err says that the engine (its connection) failed.
func mentionsEngine(err error) bool {
	return errors.Is(err, engine.ErrUnavailable) ||
		regexp.MustCompile(`(?i)docker engine|docker daemon`).MatchString(err.Error())
}

var _ = io.Discard
