package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// parallelN is how many containers BenchmarkParallel starts at once.
const parallelN = 10

// BenchmarkParallel measures starting parallelN busybox httpds at once, each waited for
// on its port, until the last is ready; teardown is not measured. Ours runs twice: as
// a suite would (RunAll, which bounds concurrent starts by DefaultMaxParallelStarts) and from
// parallelN goroutines calling Run, the same shape as the raw implementation.
func BenchmarkParallel(b *testing.B) {
	cli := dockerClient(b)
	compare(b, true,
		impl{name: "ours", run: oursRunAll},
		impl{name: "ours-goroutines", run: oursParallelGoroutines},
		impl{name: "raw", run: func(ctx context.Context) (time.Duration, error) {
			ids := make([]string, parallelN)
			d, err := timed(func() error {
				g, gctx := errgroup.WithContext(ctx)
				for i := range ids {
					g.Go(func() error {
						id, addr, err := rawCreateStart(gctx, cli, busybox, httpdCmd, httpPort)
						ids[i] = id
						if err != nil {
							return err
						}
						return rawHTTPReady(gctx, addr)
					})
				}
				return g.Wait()
			})
			var wg sync.WaitGroup
			errs := make([]error, len(ids))
			for i, id := range ids {
				if id == "" {
					continue
				}
				wg.Go(func() { errs[i] = rawRemove(context.WithoutCancel(ctx), cli, id) })
			}
			wg.Wait()
			return d, errJoin(err, errJoin(errs...))
		}},
		impl{name: "tc", run: func(ctx context.Context) (time.Duration, error) {
			reqs := make(testcontainers.ParallelContainerRequest, parallelN)
			for i := range reqs {
				reqs[i] = tcRequest(busybox, httpdCmd, httpPort, tcwait.ForListeningPort(httpPort))
			}
			var cs []testcontainers.Container
			d, err := timed(func() (err error) {
				cs, err = testcontainers.ParallelContainers(ctx, reqs, testcontainers.ParallelContainersOptions{WorkersCount: parallelN})
				return err
			})
			var wg sync.WaitGroup
			errs := make([]error, len(cs))
			for i, c := range cs {
				wg.Go(func() { errs[i] = tcRemove(c) })
			}
			wg.Wait()
			return d, errJoin(err, errJoin(errs...))
		}},
	)
}

// oursRunAll starts parallelN containers with RunAll (StartAll without a test), as a
// suite would start a group.
func oursRunAll(ctx context.Context) (time.Duration, error) {
	spec := containers.Image(busybox).Cmd(httpdCmd...).Expose(httpPort).WaitFor(wait.ForPort(httpPort))
	specs := make([]containers.Spec, parallelN)
	for i := range specs {
		specs[i] = spec
	}
	var cs []*containers.Container
	d, err := timed(func() (err error) {
		cs, err = containers.RunAll(ctx, specs...)
		return err
	})
	return d, errJoin(err, terminateAll(ctx, cs))
}

// terminateAll terminates containers concurrently.
func terminateAll(ctx context.Context, cs []*containers.Container) error {
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		if c == nil {
			continue
		}
		wg.Go(func() { errs[i] = c.Terminate(context.WithoutCancel(ctx)) })
	}
	wg.Wait()
	return errJoin(errs...)
}

// oursParallelGoroutines starts parallelN containers with Run from as many goroutines.
func oursParallelGoroutines(ctx context.Context) (time.Duration, error) {
	cs := make([]*containers.Container, parallelN)
	d, err := timed(func() error {
		g, gctx := errgroup.WithContext(ctx)
		spec := containers.Image(busybox).Cmd(httpdCmd...).Expose(httpPort).WaitFor(wait.ForPort(httpPort))
		for i := range cs {
			g.Go(func() (err error) {
				cs[i], err = spec.Run(gctx)
				return err
			})
		}
		return g.Wait()
	})
	return d, errJoin(err, terminateAll(ctx, cs))
}
