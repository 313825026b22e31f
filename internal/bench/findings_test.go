package bench

import (
	"context"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	testcontainers "github.com/testcontainers/testcontainers-go"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
)

// ryukImage is the reaper image testcontainers-go v0.44.0 starts unless
// TESTCONTAINERS_RYUK_DISABLED is set (internal/config.ReaperDefaultImage, which the
// module does not export).
const ryukImage = "testcontainers/ryuk:0.14.0"

// TestFindingReaperImage records whether testcontainers-go could start its reaper here:
// it needs ryukImage, which must be pulled when it is not local. The test does not try
// the pull (there is no registry); it only checks that the image is missing.
func TestFindingReaperImage(t *testing.T) {
	containers.RequireDocker(t)
	e, err := engine.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.ImageInspect(t.Context(), ryukImage)
	switch {
	case err == nil:
		t.Logf("finding: %s is present locally: testcontainers-go's reaper could start", ryukImage)
	case cerrdefs.IsNotFound(err):
		t.Logf("finding: %s is not present locally and there is no registry: with its reaper enabled (the default) every testcontainers-go start would fail; the benchmarks set TESTCONTAINERS_RYUK_DISABLED=true", ryukImage)
	default:
		t.Fatalf("inspect image %s: %v", ryukImage, err)
	}
}

// TestFindingHostGuess records which host testcontainers-go would use for mapped ports
// without TESTCONTAINERS_HOST_OVERRIDE. It asks a fresh provider and sends no traffic.
func TestFindingHostGuess(t *testing.T) {
	containers.RequireDocker(t)
	_, stray := os.Stat("/.dockerenv")
	old, had := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE")
	os.Unsetenv("TESTCONTAINERS_HOST_OVERRIDE")
	defer func() {
		if had {
			os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", old)
		}
	}()
	p, err := testcontainers.NewDockerProvider(testcontainers.WithDefaultBridgeNetwork(testcontainers.Bridge))
	if err != nil {
		t.Fatalf("new docker provider: %v", err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	host, err := p.DaemonHost(ctx)
	if err != nil {
		t.Fatalf("daemon host: %v", err)
	}
	e, err := engine.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("finding: /.dockerenv present: %v; engine at %s; testcontainers-go's host for mapped ports without an override: %s; ours: %s", stray == nil, e.Addr, host, e.Host)
	if host != "localhost" && host != "127.0.0.1" {
		t.Logf("finding: testcontainers-go guessed a non-loopback host (%s) for a local engine: ports bound to 127.0.0.1 are unreachable there; the benchmarks set TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1", host)
	}
}
