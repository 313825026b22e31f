//go:build linux

// The tests look at processes through procfs, so they run on Linux only.

package reaper

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/mount"
	"github.com/containertest/containertest/internal/engine/docker/nat"
	"github.com/containertest/containertest/internal/engine/docker/network"
	"github.com/containertest/containertest/internal/engine/docker/volume"
)

// mustHaveEngine skips t when no engine answers, unless CONTAINERTEST_REQUIRE_DOCKER=1.
func mustHaveEngine(t testing.TB) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := engine.Get(ctx)
	if err != nil {
		if os.Getenv("CONTAINERTEST_REQUIRE_DOCKER") == "1" {
			t.Fatalf("reaper: %v", err)
		}
		t.Skipf("reaper: %v", err)
	}
	return e
}

// testImage is the image the tests run; it exists locally (nothing can be pulled).
const testImage = "busybox:latest"

// helperEnv names the mode a re-executed test binary runs TestHelperProcess in.
const helperEnv = "REAPER_TEST_HELPER"

// stack is what one session creates: a network, a volume and a container on both.
type stack struct {
	Container, Network, Volume Ref
	ContainerName              string
	NetworkName, VolumeName    string
}

func (s stack) refs() []Ref { return []Ref{s.Container, s.Network, s.Volume} }

// createStack creates a network, a volume and a running container attached to both
// with a published port, named after prefix and labelled with labels.
func createStack(ctx context.Context, t testing.TB, e *engine.Engine, prefix string, labels map[string]string) stack {
	t.Helper()
	s := stack{ContainerName: prefix, NetworkName: prefix + "-net", VolumeName: prefix + "-vol"}
	n, err := createNetwork(ctx, e, s.NetworkName, labels)
	require.NoError(t, err, "create network")
	s.Network = Ref{Network, n.ID}
	v, err := e.Client.VolumeCreate(ctx, volume.CreateOptions{Name: s.VolumeName, Labels: labels})
	require.NoError(t, err, "create volume")
	s.Volume = Ref{Volume, v.Name}
	c, err := e.Client.ContainerCreate(ctx,
		&container.Config{Image: testImage, Cmd: []string{"sleep", "300"}, Labels: labels,
			ExposedPorts: nat.PortSet{"8080/tcp": {}}},
		&container.HostConfig{
			Mounts:       []mount.Mount{{Type: mount.TypeVolume, Source: v.Name, Target: "/data"}},
			PortBindings: nat.PortMap{"8080/tcp": {{HostIP: "127.0.0.1"}}},
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			s.NetworkName: {Aliases: []string{"svc"}},
		}}, nil, s.ContainerName)
	require.NoError(t, err, "create container")
	s.Container = Ref{Container, c.ID}
	require.NoError(t, e.Client.ContainerStart(ctx, c.ID, container.StartOptions{}), "start container")
	return s
}

// createNetwork creates a bridge network. Other tests on the shared engine may have
// used up the default address pools: then it picks small subnets of its own.
func createNetwork(ctx context.Context, e *engine.Engine, name string, labels map[string]string) (network.CreateResponse, error) {
	n, err := e.Client.NetworkCreate(ctx, name, network.CreateOptions{Labels: labels})
	poolTrouble := func(err error) bool {
		return err != nil && (strings.Contains(err.Error(), "address pool") || strings.Contains(err.Error(), "overlaps"))
	}
	for try := 0; try < 50 && poolTrouble(err); try++ {
		var b [2]byte
		rand.Read(b[:])
		subnet := fmt.Sprintf("10.%d.%d.0/24", 200+int(b[0])%50, b[1])
		n, err = e.Client.NetworkCreate(ctx, name, network.CreateOptions{Labels: labels,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}})
	}
	return n, err
}

// removeLabelled removes, kept or not, every resource matching the label filter;
// tests use it to leave nothing behind.
func removeLabelled(t testing.TB, e *engine.Engine, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := listResources(ctx, e.Client, filter)
	if err != nil {
		t.Errorf("list %s: %v", filter, err)
		return
	}
	if err := removeResources(ctx, e.Client, rs); err != nil {
		t.Errorf("remove %s: %v", filter, err)
	}
}

// refsOf returns the refs of the resources matching the label filter.
func refsOf(ctx context.Context, t testing.TB, e *engine.Engine, filter string) []Ref {
	t.Helper()
	rs, err := listResources(ctx, e.Client, filter)
	require.NoError(t, err)
	out := make([]Ref, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Ref)
	}
	return out
}

// waitGone polls until nothing matches the label filter, for up to d.
func waitGone(t testing.TB, e *engine.Engine, filter string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	deadline := time.Now().Add(d)
	for {
		left := refsOf(ctx, t, e, filter)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still there (%s): %v", d, filter, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCleaned polls until nothing matches the label filter: for up to 5 s, and
// longer only while the watchdog still runs (the shared engine can be slow under load;
// a watchdog that has given up fails the test at once).
func waitCleaned(t testing.TB, e *engine.Engine, filter string, watchdog int) {
	t.Helper()
	const want, limit = 5 * time.Second, time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), limit+10*time.Second)
	defer cancel()
	start := time.Now()
	var slow bool
	for {
		wdGone := processGone(watchdog, "")
		left := refsOf(ctx, t, e, filter)
		switch d := time.Since(start); {
		case len(left) == 0:
			t.Logf("cleaned up in %v", d.Round(time.Millisecond))
			return
		case d > limit || d > want && wdGone:
			t.Fatalf("after %v still there (%s): %v", d.Round(time.Millisecond), filter, left)
		case d > want && !slow:
			slow = true
			t.Logf("the engine is slow: still there after %v, and the watchdog still works on it", want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitProcessGone polls until pid has exited, for up to d.
func waitProcessGone(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !processGone(pid, "") {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running after %v", pid, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A helperProc is a re-executed test binary running TestHelperProcess.
type helperProc struct {
	cmd *exec.Cmd
	out syncBuffer // stdout and stderr
	// From the helper's report lines:
	Session  string
	Watchdog int
	Stack    stack

	ready  chan struct{} // closed once the READY line was read (or the output ended)
	done   chan struct{} // closed once the output ended
	exited chan struct{} // closed once the process was waited for; then err is set
	err    error
	// sawReady is set before ready is closed by a READY line.
	sawReady bool
}

// startHelper re-executes this test binary in mode, with extra environment and test
// flags, in a process group of its own (so that it can be sent a Ctrl-C), and waits
// until it has created its resources or ended.
func startHelper(t *testing.T, mode string, env []string, flags ...string) *helperProc {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	args := append([]string{"-test.run=^TestHelperProcess$", "-test.v", "-test.count=1"}, flags...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(helperEnviron(), helperEnv+"="+mode)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	h := &helperProc{cmd: cmd, ready: make(chan struct{}), done: make(chan struct{}), exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	go func() {
		h.err = cmd.Wait()
		close(h.exited)
		pw.Close()
	}()
	t.Cleanup(func() {
		select {
		case <-h.exited:
		default:
			cmd.Process.Kill()
		}
		<-h.done
	})
	go h.scan(pr)
	select {
	case <-h.ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("helper %s did not get ready:\n%s", mode, h.out.String())
	}
	if !h.sawReady {
		<-h.exited
		t.Fatalf("helper %s ended before it was ready (%v):\n%s", mode, h.err, h.out.String())
	}
	return h
}

func (h *helperProc) scan(r io.Reader) {
	defer close(h.done)
	readyOnce := sync.OnceFunc(func() { close(h.ready) })
	defer readyOnce()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		h.out.WriteString(line + "\n")
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "SESSION":
			h.Session = v
		case "WATCHDOG":
			h.Watchdog, _ = strconv.Atoi(v)
		case "STACK":
			fmt.Sscan(v, &h.Stack.ContainerName, &h.Stack.Container.ID, &h.Stack.NetworkName,
				&h.Stack.Network.ID, &h.Stack.VolumeName)
			h.Stack.Container.Kind, h.Stack.Network.Kind = Container, Network
			h.Stack.Volume = Ref{Volume, h.Stack.VolumeName}
		case "READY":
			h.sawReady = true
			readyOnce()
		}
	}
	io.Copy(io.Discard, r)
}

// wait waits for the helper to exit and returns its exit error and output.
func (h *helperProc) wait(t *testing.T) (error, string) {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("helper did not exit:\n%s", h.out.String())
	}
	<-h.exited
	return h.err, h.out.String()
}

// helperEnviron is the environment without the variables a helper sets itself.
func helperEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == EnvKeep || k == helperEnv || k == envWatchdog || k == EnvReaper {
			continue
		}
		env = append(env, kv)
	}
	return env
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// sessionFilter selects a session's resources.
func sessionFilter(session string) string { return engine.LabelSession + "=" + session }

// withLabels returns a copy of base with the given labels set.
func withLabels(base map[string]string, kv ...string) map[string]string {
	out := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// sortedRefs sorts refs for comparison.
func sortedRefs(rs []Ref) []Ref {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b Ref) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
