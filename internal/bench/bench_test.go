package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	tcnetwork "github.com/moby/moby/api/types/network"
	testcontainers "github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	tccontainer "github.com/moby/moby/api/types/container"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/testimages"
)

// The images and commands every implementation runs.
const (
	busybox  = testimages.BusyboxRef
	httpPort = "8080/tcp"
)

// httpdCmd serves an empty directory over HTTP on port 8080, in the foreground.
var httpdCmd = []string{"httpd", "-f", "-p", "8080", "-h", "/var/www"}

// Containers that the raw and testcontainers-go implementations create carry
// labelSession, so that TestMain can remove whatever a failed benchmark left behind.
// The library labels its own containers and removes them itself.
const labelSession = "containertest.bench.session"

var session = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

func benchLabels() map[string]string { return map[string]string{labelSession: session} }

func TestMain(m *testing.M) {
	if os.Getenv(keyChildEnv) != "" {
		os.Exit(keyChild()) // BenchmarkBuildKey's new process
	}
	// testcontainers-go starts its reaper (Ryuk) from an image it must pull: there is no
	// registry here, so out of the box every start fails. And this machine has a stray
	// /.dockerenv, from which testcontainers-go concludes it runs inside a container and
	// uses a gateway address instead of the loopback address for mapped ports (see
	// TestFindingHostGuess). Both are set here, before testcontainers-go reads its
	// configuration, which it does once.
	setDefaultEnv("TESTCONTAINERS_RYUK_DISABLED", "true")
	setDefaultEnv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	// Its progress lines would interleave with the benchmark output.
	tclog.SetDefault(tclog.NewNoopLogger())
	if name := os.Getenv(firstStartEnv); name != "" {
		os.Exit(firstStartChild(name)) // BenchmarkFirstStart's new process
	}
	if mode := os.Getenv(reuseChildEnv); mode != "" {
		os.Exit(reuseChild(mode)) // BenchmarkReuse's new process
	}
	code := m.Run()
	sweep()
	os.Exit(code)
}

// cleanups run at the end of TestMain, with the engine client, to remove what the
// benchmarks made once per process (images, context directories).
var cleanups []func(ctx context.Context, cli *client.Client)

func setDefaultEnv(k, v string) {
	if _, ok := os.LookupEnv(k); !ok {
		os.Setenv(k, v)
	}
}

// sweep removes containers of this process that a failed benchmark left behind.
func sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := engine.Get(ctx)
	if err != nil {
		return
	}
	cli, ok := e.Client.(*client.Client)
	if !ok {
		return
	}
	defer func() {
		for _, f := range cleanups {
			f(ctx, cli)
		}
	}()
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", labelSession+"="+session)),
	})
	if err != nil {
		return
	}
	for _, c := range list {
		_ = e.Client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
}

// dockerClient returns the library's shared engine client, which the raw
// implementations use too; it skips the benchmark when no engine answers (or fails
// it under CONTAINERTEST_REQUIRE_DOCKER=1).
func dockerClient(b *testing.B) *client.Client {
	b.Helper()
	containers.RequireDocker(b)
	e, err := engine.Get(b.Context())
	if err != nil {
		b.Fatalf("connect to engine: %v", err)
	}
	return sdkClient(b, e)
}

// sdkClient is the engine's client as the Docker SDK's own type: the raw
// implementations call the SDK directly, on the connection ours uses.
func sdkClient(tb testing.TB, e *engine.Engine) *client.Client {
	tb.Helper()
	c, ok := e.Client.(*client.Client)
	if !ok {
		tb.Fatalf("the engine's client is a %T, not the Docker SDK's", e.Client)
	}
	return c
}

// An impl is one implementation of the work a benchmark measures. run does the work
// once and returns what it measured (a duration or a latency); setup and teardown
// happen inside run but outside what it measures.
type impl struct {
	name string
	run  func(ctx context.Context) (time.Duration, error)
	// early, when set, counts the runs in which the implementation reported the
	// service ready although it did not answer yet (see answersNow); compare reports
	// it as the fraction "<name>-early".
	early *atomic.Int64
	// noWarmup leaves the implementation out of compare's unmeasured warm-up, for
	// work whose first run has nothing to pay that later runs do not, or that the
	// benchmark warms up itself.
	noWarmup bool
}

var (
	warmMu sync.Mutex
	warmed = map[string]bool{}
	// rotation shifts the order of the implementations from one iteration (and one
	// -count round) to the next, so that none always runs first or last.
	rotation = map[string]int{}
)

// compare runs every implementation b.N times, interleaved and in rotating order, and
// reports the median of each as "<name>-ms". When ratios is set it also reports the
// ratio of the first implementation's median to each other's as "<first>/<other>".
// The first time a benchmark runs in a process, each implementation (but those with
// noWarmup) runs once unmeasured, to pay first-use costs (engine connection, event
// stream, helper processes) that a test suite pays once.
func compare(b *testing.B, ratios bool, impls ...impl) {
	b.Helper()
	ctx := b.Context()
	warmMu.Lock()
	name := b.Name()
	warm := !warmed[name]
	warmed[name] = true
	warmMu.Unlock()
	if warm {
		for _, im := range impls {
			if im.noWarmup {
				continue
			}
			if _, err := im.run(ctx); err != nil {
				b.Fatalf("%s (warm-up): %v", im.name, err)
			}
		}
	}
	samples := make([][]time.Duration, len(impls))
	for _, im := range impls {
		if im.early != nil {
			im.early.Store(0)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		warmMu.Lock()
		off := rotation[name]
		rotation[name]++
		warmMu.Unlock()
		for j := range impls {
			k := (j + off) % len(impls)
			d, err := impls[k].run(ctx)
			if err != nil {
				b.Fatalf("%s: %v", impls[k].name, err)
			}
			samples[k] = append(samples[k], d)
		}
	}
	b.StopTimer()
	// ns/op would be the sum of all implementations: meaningless, so suppress it.
	b.ReportMetric(0, "ns/op")
	meds := make([]float64, len(impls))
	for k, im := range impls {
		meds[k] = ms(median(samples[k]))
		b.ReportMetric(meds[k], im.name+"-ms")
	}
	for _, im := range impls {
		if im.early != nil {
			b.ReportMetric(float64(im.early.Load())/float64(b.N), im.name+"-early")
		}
	}
	if ratios {
		for k := 1; k < len(impls); k++ {
			b.ReportMetric(meds[0]/meds[k], impls[0].name+"/"+impls[k].name)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	t0 := time.Now()
	err := f()
	return time.Since(t0), err
}

// Raw Docker API: the minimal calls that do the same work.

// rawCreateStart creates and starts a container of image running cmd; when port is not
// empty it is published on a random port of 127.0.0.1, and the host address is
// returned after one inspect.
func rawCreateStart(ctx context.Context, cli *client.Client, image string, cmd []string, port string) (id, addr string, err error) {
	cfg := &container.Config{Image: image, Cmd: cmd, Labels: benchLabels()}
	hc := &container.HostConfig{}
	if port != "" {
		cfg.ExposedPorts = nat.PortSet{nat.Port(port): {}}
		hc.PortBindings = nat.PortMap{nat.Port(port): {{HostIP: "127.0.0.1"}}}
	}
	resp, err := cli.ContainerCreate(ctx, cfg, hc, nil, nil, "")
	if err != nil {
		return "", "", fmt.Errorf("create container: %w", err)
	}
	id = resp.ID
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		rawRemove(context.WithoutCancel(ctx), cli, id)
		return "", "", fmt.Errorf("start container: %w", err)
	}
	if port == "" {
		return id, "", nil
	}
	info, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		rawRemove(context.WithoutCancel(ctx), cli, id)
		return "", "", fmt.Errorf("inspect container: %w", err)
	}
	bs := info.NetworkSettings.Ports[nat.Port(port)]
	if len(bs) == 0 {
		rawRemove(context.WithoutCancel(ctx), cli, id)
		return "", "", fmt.Errorf("inspect container: port %s not published", port)
	}
	return id, net.JoinHostPort("127.0.0.1", bs[0].HostPort), nil
}

// rawRemove is the raw teardown: one forced remove with anonymous volumes.
func rawRemove(ctx context.Context, cli *client.Client, id string) error {
	if err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		return fmt.Errorf("remove container: %w", err)
	}
	return nil
}

// rawHTTPReady dials addr every millisecond until an HTTP server answers through the
// engine's userland proxy. The proxy accepts every connection at once and closes it when
// nothing listens behind it, so a connect alone proves nothing; a response byte does.
func rawHTTPReady(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		if err := httpProbe(ctx, &d, addr); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", addr, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// answersNow reports whether an HTTP server answers at addr right now. The start
// benchmarks call it (unmeasured) the moment a start call has returned, to catch
// strategies that report ready too early.
func answersNow(ctx context.Context, addr string) bool {
	var d net.Dialer
	return httpProbe(ctx, &d, addr) == nil
}

func httpProbe(ctx context.Context, d *net.Dialer, addr string) error {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return err
	}
	var buf [1]byte
	_, err = c.Read(buf[:])
	return err
}

// testcontainers-go.

// tcRequest describes the same container for testcontainers-go: port (if any) is
// published on a random port of 127.0.0.1, as the other implementations do.
func tcRequest(image string, cmd []string, port string, strategy tcwait.Strategy) testcontainers.GenericContainerRequest {
	req := testcontainers.ContainerRequest{
		Image:      image,
		Cmd:        cmd,
		Labels:     benchLabels(),
		WaitingFor: strategy,
	}
	if port != "" {
		req.ExposedPorts = []string{port}
		p := tcnetwork.MustParsePort(port)
		req.HostConfigModifier = func(hc *tccontainer.HostConfig) {
			hc.PortBindings = tcnetwork.PortMap{p: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
		}
	}
	return testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true}
}

// tcRemove tears a testcontainers-go container down fast (outside what is measured):
// no grace period.
func tcRemove(c testcontainers.Container) error {
	if c == nil {
		return nil
	}
	if err := testcontainers.TerminateContainer(c, testcontainers.StopTimeout(0)); err != nil {
		return fmt.Errorf("terminate container: %w", err)
	}
	return nil
}

// logValue finds "<prefix><int>" in a log and returns the integer.
func logValue(log, prefix string) (int64, error) {
	i := strings.LastIndex(log, prefix)
	if i < 0 {
		return 0, fmt.Errorf("no %q in log %q", prefix, log)
	}
	var v int64
	if _, err := fmt.Sscan(log[i+len(prefix):], &v); err != nil {
		return 0, fmt.Errorf("parse %q in log: %w", prefix, err)
	}
	return v, nil
}

// errJoin joins a primary error with cleanup errors.
func errJoin(errs ...error) error { return errors.Join(errs...) }
