package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
)

// The Compose files of BenchmarkCompose, with the images filled in. The tutorial's
// stack is examples/tutorial's file (web publishing 80, redis) with image names;
// the host port is left to the engine so that docker-compose's stacks cannot clash
// either. The health-gated stack has three services, each healthy before the next
// starts: redis, then a busybox httpd, then nginx in front.
const (
	composeTutorial = `services:
  web:
    image: %[1]s
    ports: ["127.0.0.1::80"]
    depends_on: [redis]
  redis:
    image: %[2]s
`
	composeHealth = `services:
  db:
    image: %[2]s
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 200ms
      retries: 100
  app:
    image: %[3]s
    command: ["httpd", "-f", "-p", "8080", "-h", "/etc"]
    depends_on:
      db: {condition: service_healthy}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/hostname"]
      interval: 200ms
      retries: 100
  web:
    image: %[1]s
    ports: ["127.0.0.1::80"]
    depends_on:
      app: {condition: service_healthy}
    healthcheck:
      test: ["CMD", "bash", "-c", ":> /dev/tcp/127.0.0.1/80"]
      interval: 200ms
      retries: 100
`
)

// BenchmarkCompose measures up-to-ready followed by down of two Compose stacks, ours
// against the docker-compose command (1.29, as Debian ships it). The images are
// built once beforehand, outside the measurement, and named by image: in the files,
// so neither side builds.
//
// Ours: compose.File(...).Run, which returns when every service is ready (the
// published port accepts connections, health checks pass), then Stack.Down.
// docker-compose has no --wait: "up -d", then the engine is polled every 50 ms until
// every container of the project runs, every health check reports healthy and the
// web page answers on its published port; then "down -v".
//
// "<impl>-ms" is up + down; "<impl>-up-ms" and "<impl>-down-ms" split it.
func BenchmarkCompose(b *testing.B) {
	cli := dockerClient(b)
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		b.Skip("docker-compose is not installed")
	}
	web := builtImage(b, "../../examples/tutorial/testdata/web")
	redis := builtImage(b, "../../examples/webstack/testdata/redis")
	dir := b.TempDir()
	files := map[string]string{}
	for name, content := range map[string]string{"web": composeTutorial, "health": composeHealth} {
		f := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(f, fmt.Appendf(nil, content, web, redis, busybox), 0o644); err != nil {
			b.Fatal(err)
		}
		files[name] = f
	}

	var mu sync.Mutex
	split := map[string][]time.Duration{}
	record := func(name string, up, down time.Duration) {
		mu.Lock()
		split[name+"-up"] = append(split[name+"-up"], up)
		split[name+"-down"] = append(split[name+"-down"], down)
		mu.Unlock()
	}
	var seq atomic.Int64
	ours := func(stack string) impl {
		name := "ours-" + stack
		return impl{name: name, run: func(ctx context.Context) (time.Duration, error) {
			t0 := time.Now()
			s, err := compose.File(files[stack]).Name("bench" + stack).Run(ctx)
			if err != nil {
				return 0, err
			}
			up := time.Since(t0)
			t1 := time.Now()
			if err := s.Down(ctx); err != nil {
				return 0, err
			}
			down := time.Since(t1)
			record(name, up, down)
			return up + down, nil
		}}
	}
	dc := func(stack string) impl {
		name := "dc-" + stack
		return impl{name: name, run: func(ctx context.Context) (time.Duration, error) {
			project := fmt.Sprintf("benchdc%s%d%d", stack, os.Getpid(), seq.Add(1))
			run := func(args ...string) error {
				cmd := exec.CommandContext(ctx, bin, append([]string{"-p", project, "-f", files[stack]}, args...)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("docker-compose %v: %w\n%s", args, err, out)
				}
				return nil
			}
			t0 := time.Now()
			err := run("up", "-d")
			if err == nil {
				err = dcReady(ctx, cli, project, stack == "health")
			}
			up := time.Since(t0)
			t1 := time.Now()
			if derr := run("down", "-v"); derr != nil {
				return 0, errors.Join(err, derr)
			}
			down := time.Since(t1)
			if err != nil {
				return 0, err
			}
			record(name, up, down)
			return up + down, nil
		}}
	}
	impls := []impl{ours("web"), dc("web"), ours("health"), dc("health")}
	compare(b, false, impls...)
	for _, im := range impls {
		for _, part := range []string{"-up", "-down"} {
			ds := split[im.name+part]
			if len(ds) > b.N {
				ds = ds[len(ds)-b.N:] // the warm-up's sample first
			}
			b.ReportMetric(ms(median(ds)), im.name+part+"-ms")
		}
	}
}

// builtImage builds the Dockerfile in dir through the library's build cache (once per
// context: later calls find the image) and returns the image's name.
func builtImage(b *testing.B, dir string) string {
	b.Helper()
	c, err := containers.Build(dir).Cmd("true").WaitFor().Run(b.Context())
	if err != nil {
		b.Fatalf("build %s: %v", dir, err)
	}
	info, err := c.Inspect(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Terminate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return info.Image
}

// dcReady waits until every container of a docker-compose project runs, each with a
// health check is healthy, and the web service's page answers on its published port.
func dcReady(ctx context.Context, cli *client.Client, project string, health bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))
	want := 2
	if health {
		want = 3
	}
	for {
		ready, err := dcReadyOnce(ctx, cli, f, want)
		if err != nil || ready {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("docker-compose project %s not ready: %w", project, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func dcReadyOnce(ctx context.Context, cli *client.Client, f filters.Args, want int) (bool, error) {
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return false, err
	}
	if len(cs) < want {
		return false, nil
	}
	var webPort uint16
	for _, c := range cs {
		if c.State != "running" {
			if c.State == "exited" || c.State == "dead" {
				return false, fmt.Errorf("container %v %s", c.Names, c.Status)
			}
			return false, nil
		}
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			return false, err
		}
		if h := info.State.Health; h != nil && h.Status != "healthy" {
			return false, nil
		}
		if c.Labels["com.docker.compose.service"] == "web" {
			for _, p := range c.Ports {
				if p.PrivatePort == 80 && p.PublicPort != 0 {
					webPort = p.PublicPort
				}
			}
		}
	}
	if webPort == 0 {
		return false, nil
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(int(webPort))+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, nil
	}
	resp.Body.Close()
	return true, nil
}
