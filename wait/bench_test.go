package wait_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/wait"
)

// BenchmarkWaitLatency measures how late ForPort and ForLog notice readiness: from the
// moment the process in the container starts listening or writes its line, as the
// process itself reports it (testdata/latency, a static Go program in a FROM scratch
// image; the container shares the host's clock), to the moment the strategy returns.
// The process becomes ready 200–500 ms after it starts, at a random phase of the
// probing. The metric is the median over the iterations (ms/wait), with the 90th
// percentile beside it; ns/op is the whole start-wait-remove cycle and means little.
//
//	go test -run '^$' -bench WaitLatency -benchtime 40x ./wait
func BenchmarkWaitLatency(b *testing.B) {
	containers.RequireDocker(b)
	ref := testimages.GoProgram(b, "testdata/latency")
	for _, bc := range []struct {
		name, mode, prefix string
		strategy           wait.Strategy
	}{
		{"ForPort", "port", "listening since ", wait.ForPort("8080/tcp")},
		{"ForLog", "log", "ready at ", wait.ForLog("ready at ")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			spec := containers.Image(ref).Cmd(bc.mode).WaitFor()
			if bc.mode == "port" {
				spec = spec.Expose("8080/tcp")
			}
			var lat []time.Duration
			for b.Loop() {
				d, err := waitLatency(b.Context(), spec, bc.strategy, bc.prefix)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, d)
			}
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.5), "ms/wait")
			b.ReportMetric(ms(0.9), "p90-ms/wait")
			b.ReportMetric(ms(1), "max-ms/wait")
		})
	}
}

// waitLatency starts one container of spec (which does not wait), waits with s, and
// returns the time from the moment the process reported on the line starting with
// prefix to the moment s returned.
func waitLatency(ctx context.Context, spec containers.Spec, s wait.Strategy, prefix string) (time.Duration, error) {
	c, err := spec.Run(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Terminate(context.WithoutCancel(ctx))
	if err := wait.Ready(ctx, c, s, time.Minute); err != nil {
		return 0, err
	}
	done := time.Now()
	// The line may reach the log a moment after the readiness it reports.
	for {
		logs, err := c.Logs(ctx)
		if err != nil {
			return 0, err
		}
		if i := strings.Index(logs, prefix); i >= 0 {
			rest := logs[i+len(prefix):]
			if j := strings.IndexByte(rest, '\n'); j >= 0 {
				ns, err := strconv.ParseInt(rest[:j], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("parse moment in %q: %w", logs, err)
				}
				d := done.Sub(time.Unix(0, ns))
				if d < 0 {
					return 0, fmt.Errorf("%s reported ready %v before the process was", s, -d)
				}
				return d, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
