package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/wait"
)

// Lines the latency program prints when it becomes ready; the number after each is the
// moment, in Unix nanoseconds, taken inside the process.
const (
	listeningPrefix = "listening since "
	readyPrefix     = "ready at "
)

// BenchmarkWaitLatency measures how late a wait strategy notices readiness: the time
// from the moment the process inside the container starts listening on its port (or
// writes its log line), as the process itself reports it, to the moment the start call
// returns a ready container. The process (testdata/latency, a static Go binary in a
// FROM scratch image) becomes ready after a random 200–500 ms, so that the moment falls
// at a random phase of any polling. A negative latency means the strategy reported
// ready before the process was. Ours-proxied is ForPort without the container's socket
// table, as on an engine whose containers' /proc this process cannot read. Raw-port and
// raw-log are floors: raw-port polls the
// container's socket table in /proc every millisecond (exact, local engines only),
// raw-log follows the log stream.
func BenchmarkWaitLatency(b *testing.B) {
	cli := dockerClient(b)
	ref := testimages.GoProgram(b, "testdata/latency")
	shellRef, err := withShell(b.Context(), cli, ref)
	if err != nil {
		b.Fatal(err)
	}
	compare(b, false,
		impl{name: "ours-port", run: func(ctx context.Context) (time.Duration, error) {
			return oursLatency(ctx, containers.Image(ref).Cmd("port").Expose(httpPort).WaitFor(wait.ForPort(httpPort)), listeningPrefix)
		}},
		impl{name: "ours-proxied", run: func(ctx context.Context) (time.Duration, error) {
			return oursLatency(ctx, containers.Image(ref).Cmd("port").Expose(httpPort).WaitFor(proxiedPort(httpPort)), listeningPrefix)
		}},
		impl{name: "tc-port", run: func(ctx context.Context) (time.Duration, error) {
			return tcLatency(ctx, tcRequest(ref, []string{"port"}, httpPort, tcwait.ForListeningPort(httpPort)), listeningPrefix)
		}},
		// The same program in an image with a shell: testcontainers-go's
		// ForListeningPort then also runs its check inside the container (a shell
		// command reading /proc/net/tcp*), which it cannot do in a FROM scratch image.
		impl{name: "tc-port-sh", run: func(ctx context.Context) (time.Duration, error) {
			return tcLatency(ctx, tcRequest(shellRef, []string{"port"}, httpPort, tcwait.ForListeningPort(httpPort)), listeningPrefix)
		}},
		impl{name: "ours-log", run: func(ctx context.Context) (time.Duration, error) {
			return oursLatency(ctx, containers.Image(ref).Cmd("log").WaitFor(wait.ForLog(readyPrefix)), readyPrefix)
		}},
		impl{name: "tc-log", run: func(ctx context.Context) (time.Duration, error) {
			return tcLatency(ctx, tcRequest(ref, []string{"log"}, "", tcwait.ForLog(readyPrefix)), readyPrefix)
		}},
		impl{name: "raw-port", run: func(ctx context.Context) (time.Duration, error) {
			return rawPortLatency(ctx, cli, ref)
		}},
		impl{name: "raw-log", run: func(ctx context.Context) (time.Duration, error) {
			return rawLogLatency(ctx, cli, ref)
		}},
	)
}

// rawPortLatency is the floor for a port wait: after create, start and inspect, it
// reads the container's TCP socket table from /proc/<pid>/net every millisecond until
// the port is in LISTEN state. It needs no network traffic and cannot be fooled by the
// engine's proxy, but only works for an engine on this machine (and /proc access).
func rawPortLatency(ctx context.Context, cli *client.Client, ref string) (time.Duration, error) {
	id, _, err := rawCreateStart(ctx, cli, ref, []string{"port"}, httpPort)
	if err != nil {
		return 0, err
	}
	defer rawRemove(context.WithoutCancel(ctx), cli, id)
	info, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("inspect container: %w", err)
	}
	pid := info.State.Pid
	for {
		ok, err := procListening(pid, 8080)
		if err != nil {
			return 0, err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	done := time.Now()
	return moment(ctx, listeningPrefix, done, func(ctx context.Context) (string, error) { return rawLogs(ctx, cli, id) })
}

// procListening reports whether process pid's network namespace has a TCP socket
// listening on port.
func procListening(pid, port int) (bool, error) {
	want := fmt.Sprintf(":%04X ", port)
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			return false, fmt.Errorf("read socket table: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st ...; 0A is LISTEN.
			fs := strings.Fields(line)
			if len(fs) > 3 && strings.HasSuffix(fs[1]+" ", want) && fs[3] == "0A" {
				return true, nil
			}
		}
	}
	return false, nil
}

// rawLogLatency is the floor for a log wait: after create and start it follows the
// container's log stream and returns when a chunk holding the line has arrived.
func rawLogLatency(ctx context.Context, cli *client.Client, ref string) (time.Duration, error) {
	id, _, err := rawCreateStart(ctx, cli, ref, []string{"log"}, "")
	if err != nil {
		return 0, err
	}
	defer rawRemove(context.WithoutCancel(ctx), cli, id)
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return 0, fmt.Errorf("follow logs: %w", err)
	}
	defer rc.Close()
	var seen []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		seen = append(seen, buf[:n]...)
		if bytes.Contains(seen, []byte(readyPrefix)) && bytes.IndexByte(seen[bytes.Index(seen, []byte(readyPrefix)):], '\n') >= 0 {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("follow logs: %w", err)
		}
	}
	done := time.Now()
	return moment(ctx, readyPrefix, done, func(ctx context.Context) (string, error) { return rawLogs(ctx, cli, id) })
}

// rawLogs returns a container's stdout and stderr so far.
func rawLogs(ctx context.Context, cli *client.Client, id string) (string, error) {
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", fmt.Errorf("read logs: %w", err)
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return "", fmt.Errorf("read logs: %w", err)
	}
	return out.String(), nil
}

// proxiedPort is wait.ForPort as it behaves where the container's socket table is out
// of the test process's reach (Docker Desktop, a remote or rootless engine): it hides
// the container behind a plain wait.Target (no socket table), so that the strategy must go
// through the published port and the engine's proxy.
func proxiedPort(port string) wait.Strategy {
	return wait.ForFunc(func(ctx context.Context, t wait.Target) error {
		return wait.ForPort(port).WaitUntilReady(ctx, struct{ wait.Target }{t})
	})
}

func oursLatency(ctx context.Context, spec containers.Spec, prefix string) (time.Duration, error) {
	c, err := spec.Run(ctx)
	done := time.Now()
	if err != nil {
		return 0, err
	}
	defer c.Terminate(context.WithoutCancel(ctx))
	return moment(ctx, prefix, done, c.Logs)
}

func tcLatency(ctx context.Context, req testcontainers.GenericContainerRequest, prefix string) (time.Duration, error) {
	c, err := testcontainers.GenericContainer(ctx, req)
	done := time.Now()
	defer tcRemove(c)
	if err != nil {
		return 0, err
	}
	return moment(ctx, prefix, done, func(ctx context.Context) (string, error) {
		rc, err := c.Logs(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	})
}

// moment reads the log until the readiness line appears and returns done minus the
// moment it reports. The line can lag behind the readiness it reports (the engine
// copies the log asynchronously), and a strategy that returned early finds no line
// yet, so it polls for a while; none of this is measured.
func moment(ctx context.Context, prefix string, done time.Time, logs func(context.Context) (string, error)) (time.Duration, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		log, err := logs(ctx)
		if err != nil {
			return 0, err
		}
		d, err := since(log, prefix, done)
		if err == nil || time.Now().After(deadline) {
			return d, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// since returns done minus the moment the process logged after prefix.
func since(log, prefix string, done time.Time) (time.Duration, error) {
	ns, err := logValue(log, prefix)
	if err != nil {
		return 0, fmt.Errorf("read readiness moment: %w", err)
	}
	return done.Sub(time.Unix(0, ns)), nil
}

// withShell builds, once per process, an image that runs the program of the FROM
// scratch image ref on top of busybox, so that a shell is there; TestMain removes it.
func withShell(ctx context.Context, cli *client.Client, ref string) (string, error) {
	tag := "containertest-bench/latency-sh:" + session
	dir, err := os.MkdirTemp("", "bench-latency-sh-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	df := fmt.Sprintf("FROM %s AS prog\nFROM %s\nCOPY --from=prog /app /app\nENTRYPOINT [\"/app\"]\n", ref, busybox)
	if err := os.WriteFile(dir+"/Dockerfile", []byte(df), 0o644); err != nil {
		return "", err
	}
	if err := rawImageBuild(ctx, cli, dir, tag, nil); err != nil {
		return "", err
	}
	cleanups = append(cleanups, func(ctx context.Context, cli *client.Client) {
		_, _ = cli.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
	})
	return tag, nil
}
