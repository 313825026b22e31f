package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// BenchmarkStart measures start to ready of a busybox httpd whose port is waited for:
// from the first call to a ready container with a known host port, teardown excluded.
// Ours runs twice: with wait.ForPort, as the figure is defined, and with wait.ForHTTP
// (any answer counts), which proves readiness the way the raw implementation does and
// so separates the cost of the port wait from the rest of the start.
// anyHTTPAnswer waits until the httpd answers an HTTP request on port 8080, with any
// status (it serves an empty directory).
func anyHTTPAnswer() wait.Strategy {
	return wait.ForHTTP("/").Port(httpPort).StatusFunc(func(int) bool { return true })
}

func BenchmarkStart(b *testing.B) {
	cli := dockerClient(b)
	var oursEarly, tcEarly atomic.Int64
	compare(b, true,
		impl{name: "ours", early: &oursEarly, run: func(ctx context.Context) (time.Duration, error) {
			var c *containers.Container
			d, err := timed(func() (err error) {
				c, err = containers.Image(busybox).Cmd(httpdCmd...).Expose(httpPort).
					WaitFor(wait.ForPort(httpPort)).Run(ctx)
				return err
			})
			if err != nil {
				return 0, err
			}
			if !answersNow(ctx, c.Endpoint(httpPort)) {
				oursEarly.Add(1)
			}
			return d, c.Terminate(context.WithoutCancel(ctx))
		}},
		impl{name: "ours-http", run: func(ctx context.Context) (time.Duration, error) {
			var c *containers.Container
			d, err := timed(func() (err error) {
				c, err = containers.Image(busybox).Cmd(httpdCmd...).Expose(httpPort).
					WaitFor(anyHTTPAnswer()).Run(ctx)
				return err
			})
			if err != nil {
				return 0, err
			}
			return d, c.Terminate(context.WithoutCancel(ctx))
		}},
		impl{name: "raw", run: func(ctx context.Context) (time.Duration, error) {
			var id string
			d, err := timed(func() error {
				var addr string
				var err error
				id, addr, err = rawCreateStart(ctx, cli, busybox, httpdCmd, httpPort)
				if err != nil {
					return err
				}
				return rawHTTPReady(ctx, addr)
			})
			if id != "" {
				err = errJoin(err, rawRemove(context.WithoutCancel(ctx), cli, id))
			}
			return d, err
		}},
		impl{name: "tc", early: &tcEarly, run: func(ctx context.Context) (time.Duration, error) {
			var c testcontainers.Container
			d, err := timed(func() (err error) {
				c, err = testcontainers.GenericContainer(ctx, tcRequest(busybox, httpdCmd, httpPort, tcwait.ForListeningPort(httpPort)))
				return err
			})
			if err == nil {
				if ep, perr := c.PortEndpoint(ctx, httpPort, ""); perr != nil || !answersNow(ctx, ep) {
					tcEarly.Add(1)
				}
			}
			return d, errJoin(err, tcRemove(c))
		}},
	)
}
