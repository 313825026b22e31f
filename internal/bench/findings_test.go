package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	testcontainers "github.com/testcontainers/testcontainers-go"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/testimages"
)

// ryukImage is the reaper image testcontainers-go v0.44.0 starts unless
// TESTCONTAINERS_RYUK_DISABLED is set (internal/config.ReaperDefaultImage, which the
// module does not export).
const ryukImage = "testcontainers/ryuk:0.14.0"

// TestFindingReaperImage records whether testcontainers-go could start its reaper here:
// it needs ryukImage, which must be pulled when it is not local. The test does not try
// the pull (there is no registry); it only checks that the image is missing.
func TestFindingReaperImage(t *testing.T) {
	containers.RequireDocker(t)
	e, err := engine.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.ImageInspect(t.Context(), ryukImage)
	switch {
	case err == nil:
		t.Logf("finding: %s is present locally: testcontainers-go's reaper could start", ryukImage)
	case cerrdefs.IsNotFound(err):
		t.Logf("finding: %s is not present locally and there is no registry: with its reaper enabled (the default) every testcontainers-go start would fail; the benchmarks set TESTCONTAINERS_RYUK_DISABLED=true", ryukImage)
	default:
		t.Fatalf("inspect image %s: %v", ryukImage, err)
	}
}

// TestFindingHostGuess records which host testcontainers-go would use for mapped ports
// without TESTCONTAINERS_HOST_OVERRIDE. It asks a fresh provider and sends no traffic.
func TestFindingHostGuess(t *testing.T) {
	containers.RequireDocker(t)
	_, stray := os.Stat("/.dockerenv")
	old, had := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE")
	os.Unsetenv("TESTCONTAINERS_HOST_OVERRIDE")
	defer func() {
		if had {
			os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", old)
		}
	}()
	p, err := testcontainers.NewDockerProvider(testcontainers.WithDefaultBridgeNetwork(testcontainers.Bridge))
	if err != nil {
		t.Fatalf("new docker provider: %v", err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	host, err := p.DaemonHost(ctx)
	if err != nil {
		t.Fatalf("daemon host: %v", err)
	}
	e, err := engine.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("finding: /.dockerenv present: %v; engine at %s; testcontainers-go's host for mapped ports without an override: %s; ours: %s", stray == nil, e.Addr, host, e.Host)
	if host != "localhost" && host != "127.0.0.1" {
		t.Logf("finding: testcontainers-go guessed a non-loopback host (%s) for a local engine: ports bound to 127.0.0.1 are unreachable there; the benchmarks set TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1", host)
	}
}

// TestFindingProxyClose measures, when BENCH_PROXY=1, how long the engine's userland
// proxy takes to close a connection to a published port while nothing listens behind
// it yet: the window a port wait that goes through the proxy must tell apart from a
// server that accepted. It starts a container that listens only after 200–500 ms and
// dials every 2 ms from the moment the start call returned. It asserts nothing.
func TestFindingProxyClose(t *testing.T) {
	if os.Getenv("BENCH_PROXY") != "1" {
		t.Skip("set BENCH_PROXY=1 to measure the userland proxy")
	}
	containers.RequireDocker(t)
	ctx := t.Context()
	e, err := engine.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref := testimages.GoProgram(t, "testdata/latency")
	const starts = 10
	var firsts, later []time.Duration
	for range starts {
		id, addr, err := rawCreateStart(ctx, sdkClient(t, e), ref, []string{"port"}, httpPort)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; ; n++ {
			d, closed, err := proxyProbe(ctx, addr)
			if err != nil {
				rawRemove(context.WithoutCancel(ctx), sdkClient(t, e), id)
				t.Fatal(err)
			}
			if !closed {
				break // listening now
			}
			if n == 0 {
				firsts = append(firsts, d)
			} else {
				later = append(later, d)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err := rawRemove(context.WithoutCancel(ctx), sdkClient(t, e), id); err != nil {
			t.Fatal(err)
		}
	}
	over := func(ds []time.Duration, lim time.Duration) int {
		n := 0
		for _, d := range ds {
			if d > lim {
				n++
			}
		}
		return n
	}
	slices.Sort(firsts)
	slices.Sort(later)
	t.Logf("finding: the userland proxy closed the first connection after a start in %v (median; max %v): over 5 ms in %d of %d starts; later connections: median %v, max %v, over 5 ms in %d of %d",
		median(firsts).Round(10*time.Microsecond), firsts[len(firsts)-1].Round(10*time.Microsecond), over(firsts, 5*time.Millisecond), len(firsts),
		median(later).Round(10*time.Microsecond), later[len(later)-1].Round(10*time.Microsecond), over(later, 5*time.Millisecond), len(later))
}

// proxyProbe connects to addr and reports how long until the connection was closed,
// or closed=false when it stayed open for a second (something listens).
func proxyProbe(ctx context.Context, addr string) (d time.Duration, closed bool, err error) {
	var dl net.Dialer
	t0 := time.Now()
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, false, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		return 0, false, err
	}
	var b [1]byte
	_, err = c.Read(b[:])
	d = time.Since(t0)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return d, false, nil
	}
	return d, true, nil
}
