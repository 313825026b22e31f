package bench

import (
	"context"
	"testing"
	"time"

	testcontainers "github.com/testcontainers/testcontainers-go"

	"github.com/containertest/containertest/containers"
)

// stubbornCmd is a process that ignores SIGTERM (as PID 1 it would anyway, having no
// handler; the trap makes the intent explicit).
var stubbornCmd = []string{"sh", "-c", `trap "" TERM; while true; do sleep 1; done`}

// BenchmarkTeardown measures the teardown of a running container whose process ignores
// SIGTERM, each implementation the way its users do it: ours Terminate, raw a forced
// remove, testcontainers-go Terminate (stop with its default grace period, then remove).
// Starting the container is not measured.
func BenchmarkTeardown(b *testing.B) {
	cli := dockerClient(b)
	compare(b, true,
		impl{name: "ours", run: func(ctx context.Context) (time.Duration, error) {
			c, err := containers.Image(busybox).Cmd(stubbornCmd...).Run(ctx)
			if err != nil {
				return 0, err
			}
			return timed(func() error { return c.Terminate(ctx) })
		}},
		impl{name: "raw", run: func(ctx context.Context) (time.Duration, error) {
			id, _, err := rawCreateStart(ctx, cli, busybox, stubbornCmd, "")
			if err != nil {
				return 0, err
			}
			return timed(func() error { return rawRemove(ctx, cli, id) })
		}},
		impl{name: "tc", run: func(ctx context.Context) (time.Duration, error) {
			c, err := testcontainers.GenericContainer(ctx, tcRequest(busybox, stubbornCmd, "", nil))
			if err != nil {
				return 0, errJoin(err, tcRemove(c))
			}
			return timed(func() error { return c.Terminate(ctx) })
		}},
	)
}
