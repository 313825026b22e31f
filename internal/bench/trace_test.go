package bench

import (
	"context"
	"os"
	"testing"
	"time"

	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/wait"
)

// TestTrace runs one start of each implementation, and one cached Build start, with
// marker requests (GET /_ping?MARK=...) between them, so that a Docker API proxy such
// as cmd/apitrace shows which engine calls each makes and how long each took:
//
//	go run ./cmd/apitrace -listen trace.sock &
//	DOCKER_HOST=unix://$PWD/trace.sock BENCH_TRACE=1 go test -run TestTrace -v
//
// It is skipped unless BENCH_TRACE is set.
func TestTrace(t *testing.T) {
	if os.Getenv("BENCH_TRACE") == "" {
		t.Skip("set BENCH_TRACE=1 (and DOCKER_HOST to a tracing proxy) to trace engine calls")
	}
	containers.RequireDocker(t)
	ctx := t.Context()
	e, err := engine.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cli := sdkClient(t, e)
	mark := func(s string) {
		resp, err := cli.HTTPClient().Get("http://docker/_ping?MARK=" + s)
		if err == nil {
			resp.Body.Close()
		}
	}
	run := func(name string, start func() (func(), error)) {
		mark(name + "-start")
		t0 := time.Now()
		stop, err := start()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: ready after %v", name, time.Since(t0))
		mark(name + "-ready")
		stop()
		mark(name + "-gone")
	}
	for range 2 { // the first round pays first-use costs
		run("ours", func() (func(), error) {
			c, err := containers.Image(busybox).Cmd(httpdCmd...).Expose(httpPort).WaitFor(wait.ForPort(httpPort)).Run(ctx)
			if err != nil {
				return nil, err
			}
			return func() { c.Terminate(context.WithoutCancel(ctx)) }, nil
		})
		run("raw", func() (func(), error) {
			id, addr, err := rawCreateStart(ctx, cli, busybox, httpdCmd, httpPort)
			if err != nil {
				return nil, err
			}
			stop := func() { rawRemove(context.WithoutCancel(ctx), cli, id) }
			if err := rawHTTPReady(ctx, addr); err != nil {
				stop()
				return nil, err
			}
			return stop, nil
		})
		run("tc", func() (func(), error) {
			c, err := testcontainers.GenericContainer(ctx, tcRequest(busybox, httpdCmd, httpPort, tcwait.ForListeningPort(httpPort)))
			if err != nil {
				return nil, err
			}
			return func() { tcRemove(c) }, nil
		})
		run("ours-build", func() (func(), error) {
			c, err := containers.Build(slowContext).BuildArg("BENCH_IMPL", "ours").Expose(httpPort).WaitFor(wait.ForPort(httpPort)).Run(ctx)
			if err != nil {
				return nil, err
			}
			return func() { c.Terminate(context.WithoutCancel(ctx)) }, nil
		})
	}
}
