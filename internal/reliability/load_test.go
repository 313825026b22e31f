package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// Sizes of the load test. CI runs the defaults, which fit a 2-core machine; the issue's
// full size is CONTAINERTEST_RELIABILITY_LOAD=50.
const (
	envLoad     = "CONTAINERTEST_RELIABILITY_LOAD"     // parallel tests per round (default 20)
	envNetworks = "CONTAINERTEST_RELIABILITY_NETWORKS" // live networks while it runs (default 60)
	envRounds   = "CONTAINERTEST_RELIABILITY_ROUNDS"   // rounds in a row (default 3)
)

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// TestLoad runs rounds of parallel tests, each with its own network, a server and a
// client that reaches it by name, a volume and an exec, while enough other networks
// live to make the total the target. Every published port must reach its own
// container: the server serves an identity that only it has.
func TestLoad(t *testing.T) {
	testimages.Busybox(t)
	parallel := envInt(t, envLoad, 20)
	target := envInt(t, envNetworks, 60)
	rounds := envInt(t, envRounds, 3)
	figure(t, "load_parallel", parallel)
	figure(t, "load_rounds", rounds)

	// The other networks, held for the whole test; each subtest adds its own.
	extra := max(target-parallel, 0)
	ctx := context.Background()
	var mu sync.Mutex
	var extras []*network.Network
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for range extra {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n := network.New(t)
			mu.Lock()
			extras = append(extras, n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	figure(t, "load_extra_networks", len(extras))

	var starts []time.Duration
	var maxLive int
	for round := 1; round <= rounds; round++ {
		var live int
		began := time.Now()
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			for i := range parallel {
				t.Run(fmt.Sprintf("t%02d", i), func(t *testing.T) {
					t.Parallel()
					d := loadOne(t, fmt.Sprintf("r%d-t%02d-%d", round, i, time.Now().UnixNano()), func() {
						mu.Lock()
						live++
						maxLive = max(maxLive, live+len(extras))
						mu.Unlock()
					})
					mu.Lock()
					starts = append(starts, d)
					mu.Unlock()
				})
			}
		})
		figure(t, fmt.Sprintf("load_round%d_wall_ms", round), time.Since(began).Milliseconds())
	}
	slices.Sort(starts)
	if len(starts) > 0 {
		figure(t, "load_slowest_start_ms", starts[len(starts)-1].Milliseconds())
		figure(t, "load_median_start_ms", starts[len(starts)/2].Milliseconds())
	}
	figure(t, "load_max_live_networks", maxLive)
	figure(t, "load_tests_run", parallel*rounds)
	_ = ctx
}

// loadOne is one parallel test of TestLoad; it returns the server's start time.
func loadOne(t *testing.T, identity string, onNetwork func()) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	net := network.New(t)
	onNetwork()
	data := volume.New(t)
	began := time.Now()
	srv := containers.Image(busybox).
		Cmd("httpd", "-f", "-p", "8080", "-h", "/www").
		File("/www/id", []byte(identity), 0o644).
		Mount(data, "/data").KillOnTeardown().
		On(net, "srv").
		Expose("8080/tcp").
		WaitFor(wait.ForHTTP("/id").Port("8080/tcp").Body(identity)).
		Start(t)
	startTook := time.Since(began)
	cli := containers.Image(busybox).Cmd("sleep", "300").On(net).KillOnTeardown().Start(t)

	// The client reaches the server by name on their network.
	res, err := cli.Exec(ctx, "wget", "-qO-", "http://srv:8080/id")
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != identity {
		t.Errorf("client to srv by name: %v, exit %d, %q (want %q) %s", err, res.ExitCode, res.Stdout, identity, res.Stderr)
	}
	// An exec writes to the volume and reads it back.
	res, err = srv.Exec(ctx, "sh", "-c", "echo "+identity+" > /data/v && cat /data/v")
	if err != nil || strings.TrimSpace(res.Stdout) != identity {
		t.Errorf("exec on the volume: %v, %q", err, res.Stdout)
	}
	// The published port reaches this test's server, not another's.
	resp, err := http.Get(srv.URL("http", "8080") + "/id")
	if err != nil {
		t.Fatalf("get through the published port: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != identity {
		t.Errorf("published port %s reached %q, want this test's server %q", srv.Endpoint("8080"), body, identity)
	}
	if host := srv.Host(); host != "127.0.0.1" {
		t.Errorf("published on %s, want 127.0.0.1", host)
	}
	return startTook
}
