package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/examples/postgres"
	"github.com/containertest/containertest/wait"
)

// The sequential suite of BenchmarkPool: suiteTests tests, each needing a fresh busybox
// httpd, each doing testWork of its own (one HTTP request, then waiting out the rest
// of testWork, as a test that exercises the server does).
// poolSize is the fixed pool's size; the "pool-auto" implementation passes 0 instead
// (self-sizing).
const (
	suiteTests = 20
	testWork   = 200 * time.Millisecond
	poolSize   = 2
)

// work is one test's own work against a server at addr: a GET, then the rest of
// testWork.
func work(ctx context.Context, addr string) error {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("test work: %w", err)
	}
	resp.Body.Close()
	select {
	case <-time.After(testWork - time.Since(t0)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func poolHTTPD() containers.Spec {
	return containers.Image(busybox).Cmd(httpdCmd...).Expose(httpPort).WaitFor(wait.ForPort(httpPort))
}

// poolSuite runs the sequential suite against a new pool of size (0: self-sizing):
// Take, the work, Terminate in the background as Get's cleanup does; Close at the end.
func poolSuite(ctx context.Context, size int) (time.Duration, error) {
	return timed(func() error {
		p := containers.NewPool(poolHTTPD(), size)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		fail := func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		for range suiteTests {
			c, err := p.Take(ctx)
			if err != nil {
				fail(err)
				break
			}
			if err := work(ctx, c.Endpoint(httpPort)); err != nil {
				fail(err)
			}
			wg.Go(func() {
				if err := c.Terminate(context.WithoutCancel(ctx)); err != nil {
					fail(err)
				}
			})
		}
		wg.Wait()
		return errors.Join(append(errs, p.Close())...)
	})
}

// BenchmarkPool measures a sequential suite of 20 tests that each need a fresh busybox
// httpd, from the first test's start to the last container's removal: plain Start per
// test (Run, the test's work, Terminate), a Pool of 2 ("pool") and a self-sizing Pool
// (size 0, "pool-auto"), each used as poolSuite does, testcontainers-go
// (GenericContainer, the work, Terminate), and the floor: the tests' own work plus one
// start (one Run, 20 × the work, one Terminate). Each run makes a new pool, so its
// first start is inside the figure, and a self-sizing pool starts each run knowing
// nothing. No pool beats the engine's throughput: when each test takes less time than
// the engine needs per container at its best, both pools wait for starts, and the
// self-sizing one stops growing where more starts at once stop helping.
func BenchmarkPool(b *testing.B) {
	dockerClient(b)
	compare(b, true,
		impl{name: "pool", run: func(ctx context.Context) (time.Duration, error) { return poolSuite(ctx, poolSize) }},
		impl{name: "pool-auto", run: func(ctx context.Context) (time.Duration, error) { return poolSuite(ctx, 0) }},
		impl{name: "plain", run: func(ctx context.Context) (time.Duration, error) {
			return timed(func() error {
				for range suiteTests {
					c, err := poolHTTPD().Run(ctx)
					if err != nil {
						return err
					}
					werr := work(ctx, c.Endpoint(httpPort))
					if err := errors.Join(werr, c.Terminate(context.WithoutCancel(ctx))); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		impl{name: "tc", run: func(ctx context.Context) (time.Duration, error) {
			return timed(func() error {
				for range suiteTests {
					c, err := testcontainers.GenericContainer(ctx, tcRequest(busybox, httpdCmd, httpPort, tcwait.ForListeningPort(httpPort)))
					if err != nil {
						return errors.Join(err, tcRemove(c))
					}
					ep, err := c.PortEndpoint(ctx, httpPort, "")
					if err == nil {
						err = work(ctx, ep)
					}
					if err := errors.Join(err, testcontainers.TerminateContainer(c)); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		impl{name: "floor", run: func(ctx context.Context) (time.Duration, error) {
			return timed(func() error {
				c, err := poolHTTPD().Run(ctx)
				if err != nil {
					return err
				}
				var errs []error
				for range suiteTests {
					errs = append(errs, work(ctx, c.Endpoint(httpPort)))
				}
				return errors.Join(append(errs, c.Terminate(context.WithoutCancel(ctx)))...)
			})
		}},
	)
}

// reuseChildEnv, set to "reuse" or "fresh", makes the benchmark binary play the second
// `go test` of the PostgreSQL example: get the template server (postgres.
// TemplateServerSpec, reused; or, with "fresh", the same spec under
// CONTAINERTEST_REUSE=off, a server of its own), connect, print "reuse-child <ns>" and
// exit (BenchmarkReuse's child).
const reuseChildEnv = "BENCH_REUSE_CHILD"

func reuseChild(mode string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if mode == "fresh" {
		os.Setenv("CONTAINERTEST_REUSE", "off")
	}
	t0 := time.Now()
	c, err := postgres.TemplateServerSpec().Run(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 1
	}
	conn, err := pgx.Connect(ctx, postgres.DSN(c))
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	d := time.Since(t0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		return 1
	}
	if mode == "fresh" {
		_ = c.Terminate(context.WithoutCancel(ctx))
	}
	fmt.Printf("reuse-child %d\n", d)
	return 0
}

func reuseNewProcess(ctx context.Context, mode string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), reuseChildEnv+"="+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s child: %w: %s", mode, err, strings.TrimSpace(stderr.String()))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "reuse-child "); ok {
			var ns int64
			if _, err := fmt.Sscan(v, &ns); err != nil {
				return 0, fmt.Errorf("%s child: parse %q: %w", mode, line, err)
			}
			return time.Duration(ns), nil
		}
	}
	return 0, fmt.Errorf("%s child: no figure in %q", mode, out)
}

// BenchmarkReuse measures the container overhead of a second consecutive `go test` of
// the PostgreSQL example: a new process of this binary that gets the example's server
// and connects to it, from the first call until the connection answers, with
// Spec.Reuse (the first run, the warm-up, left the server behind) and without
// (CONTAINERTEST_REUSE=off: a server of its own, initdb included; its teardown is not
// measured). Process start-up is not counted. The image is built once, unmeasured.
func BenchmarkReuse(b *testing.B) {
	dockerClient(b)
	compare(b, true,
		impl{name: "reuse", run: func(ctx context.Context) (time.Duration, error) { return reuseNewProcess(ctx, "reuse") }},
		impl{name: "fresh", run: func(ctx context.Context) (time.Duration, error) { return reuseNewProcess(ctx, "fresh") }},
	)
}

// benchTemplate is BenchmarkFreshDatabase's template: a table and a seed row.
var benchTemplate = postgres.NewTemplate(
	"CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item text NOT NULL)",
	"INSERT INTO orders (item) VALUES ('seed')",
)

// BenchmarkFreshDatabase measures what a test pays for a PostgreSQL database of its
// own, until a connection to it answers: a database from postgres.Template.Fresh on the
// shared, reused server ("database": cloned ahead in the background, so the test waits
// only for a connection when its predecessors ran at least one clone long, as here,
// where the other implementations run in between; the databases are dropped at the end
// of the benchmark, unmeasured); the clone itself, as Fresh costs when tests come
// faster than clones ("clone": CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY
// and a connection); and a fresh server container per test ("container":
// postgres.Spec().Run, initdb included, then the same migrations; teardown not
// measured).
func BenchmarkFreshDatabase(b *testing.B) {
	dockerClient(b)
	benchTemplate.Server(b)
	compare(b, true,
		impl{name: "database", run: func(ctx context.Context) (time.Duration, error) {
			var conn *pgx.Conn
			d, err := timed(func() error {
				conn = benchTemplate.Fresh(b)
				return conn.Ping(ctx)
			})
			return d, err
		}},
		impl{name: "clone", run: func(ctx context.Context) (time.Duration, error) {
			srv := benchTemplate.Server(b)
			admin, err := pgx.Connect(ctx, postgres.DSN(srv))
			if err != nil {
				return 0, err
			}
			defer admin.Close(context.WithoutCancel(ctx))
			db := fmt.Sprintf("bench_clone_%d", time.Now().UnixNano())
			d, err := timed(func() error {
				if _, err := admin.Exec(ctx, "CREATE DATABASE "+db+" TEMPLATE "+benchTemplate.Name()+" STRATEGY FILE_COPY"); err != nil {
					return err
				}
				conn, err := pgx.Connect(ctx, strings.Replace(postgres.DSN(srv), "/"+postgres.Database+"?", "/"+db+"?", 1))
				if err != nil {
					return err
				}
				defer conn.Close(context.WithoutCancel(ctx))
				return conn.Ping(ctx)
			})
			_, derr := admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			return d, errors.Join(err, derr)
		}},
		impl{name: "container", run: func(ctx context.Context) (time.Duration, error) {
			var c *containers.Container
			d, err := timed(func() error {
				var err error
				if c, err = postgres.Spec().Run(ctx); err != nil {
					return err
				}
				conn, err := pgx.Connect(ctx, postgres.DSN(c))
				if err != nil {
					return err
				}
				defer conn.Close(context.WithoutCancel(ctx))
				_, err = conn.Exec(ctx, "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item text NOT NULL); INSERT INTO orders (item) VALUES ('seed')")
				return err
			})
			if c != nil {
				err = errors.Join(err, c.Terminate(context.WithoutCancel(ctx)))
			}
			return d, err
		}},
	)
}
