package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// firstStartEnv, set to an implementation's name, makes the benchmark binary do one
// start to ready of the busybox httpd as the first thing of a new process, print
// "first-start <ns>" and exit (BenchmarkFirstStart's child).
const firstStartEnv = "BENCH_FIRST_START"

// firstStartChild is the child's whole life: the clock starts before the process has
// touched the engine, so that everything a test binary pays once is inside the figure:
// for ours the engine connection and ping, the watchdog process, the sweep of dead
// sessions and the event stream; for raw the client's creation and its version
// negotiation; for testcontainers-go whatever its first GenericContainer does. Process
// start-up (the same binary for all three) is not counted. Teardown is not measured.
func firstStartChild(name string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	var d time.Duration
	var cleanup func() error
	switch name {
	case "ours":
		c, err := containers.Image(busybox).Cmd(httpdCmd...).Expose(httpPort).
			WaitFor(wait.ForPort(httpPort)).Run(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ours:", err)
			return 1
		}
		d = time.Since(t0)
		cleanup = func() error { return c.Terminate(context.WithoutCancel(ctx)) }
	case "raw":
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			fmt.Fprintln(os.Stderr, "raw:", err)
			return 1
		}
		defer cli.Close()
		id, addr, err := rawCreateStart(ctx, cli, busybox, httpdCmd, httpPort)
		if err == nil {
			err = rawHTTPReady(ctx, addr)
		}
		d = time.Since(t0)
		if id != "" {
			cleanup = func() error { return rawRemove(context.WithoutCancel(ctx), cli, id) }
		}
		if err != nil {
			if cleanup != nil {
				_ = cleanup()
			}
			fmt.Fprintln(os.Stderr, "raw:", err)
			return 1
		}
	case "tc":
		c, err := testcontainers.GenericContainer(ctx, tcRequest(busybox, httpdCmd, httpPort, tcwait.ForListeningPort(httpPort)))
		d = time.Since(t0)
		cleanup = func() error { return tcRemove(c) }
		if err != nil {
			_ = cleanup()
			fmt.Fprintln(os.Stderr, "tc:", err)
			return 1
		}
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: no such implementation\n", firstStartEnv, name)
		return 2
	}
	fmt.Printf("first-start %d\n", d)
	if err := cleanup(); err != nil {
		fmt.Fprintln(os.Stderr, name, "teardown:", err)
		return 1
	}
	return 0
}

// firstStartNewProcess runs firstStartChild for the implementation in a new process
// of this binary and returns the time the child measured.
func firstStartNewProcess(ctx context.Context, name string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), firstStartEnv+"="+name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("first start in a new process: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var ns int64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "first-start "); ok {
			if _, err := fmt.Sscan(v, &ns); err != nil {
				return 0, fmt.Errorf("first start in a new process: parse %q: %w", line, err)
			}
			return time.Duration(ns), nil
		}
	}
	return 0, fmt.Errorf("first start in a new process: no figure in its output %q", out)
}

// BenchmarkFirstStart measures the first start to ready of a busybox httpd in a fresh
// test process, one new process per implementation and round, so that the one-time
// costs that every package's test binary pays (and that BenchmarkStart's warm-up
// leaves out) are counted: ours pays engine connection, watchdog start, sweep and
// event stream; raw pays client creation and version negotiation; testcontainers-go
// pays its own first start (its reaper is off here: there is no registry to pull it
// from).
func BenchmarkFirstStart(b *testing.B) {
	containers.RequireDocker(b)
	impls := make([]impl, 0, 3)
	for _, name := range []string{"ours", "raw", "tc"} {
		impls = append(impls, impl{name: name, noWarmup: true, run: func(ctx context.Context) (time.Duration, error) {
			return firstStartNewProcess(ctx, name)
		}})
	}
	compare(b, true, impls...)
}
