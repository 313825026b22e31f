package bench

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

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
// ready before the process was.
func BenchmarkWaitLatency(b *testing.B) {
	dockerClient(b)
	ref := testimages.GoProgram(b, "testdata/latency")
	compare(b, false,
		impl{name: "ours-port", run: func(ctx context.Context) (time.Duration, error) {
			return oursLatency(ctx, containers.Image(ref).Cmd("port").Expose(httpPort).WaitFor(wait.ForPort(httpPort)), listeningPrefix)
		}},
		impl{name: "tc-port", run: func(ctx context.Context) (time.Duration, error) {
			return tcLatency(ctx, tcRequest(ref, []string{"port"}, httpPort, tcwait.ForListeningPort(httpPort)), listeningPrefix)
		}},
		impl{name: "ours-log", run: func(ctx context.Context) (time.Duration, error) {
			return oursLatency(ctx, containers.Image(ref).Cmd("log").WaitFor(wait.ForLog(readyPrefix)), readyPrefix)
		}},
		impl{name: "tc-log", run: func(ctx context.Context) (time.Duration, error) {
			return tcLatency(ctx, tcRequest(ref, []string{"log"}, "", tcwait.ForLog(readyPrefix)), readyPrefix)
		}},
	)
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
