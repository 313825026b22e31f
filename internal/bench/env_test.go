package bench

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
)

// TestEnvironment prints, when BENCH_PRINT_ENV=1, the configuration lines that
// scripts/bench.sh puts at the head of the results (Go benchmark format: "key: value").
func TestEnvironment(t *testing.T) {
	if os.Getenv("BENCH_PRINT_ENV") != "1" {
		t.Skip("set BENCH_PRINT_ENV=1 to print the benchmark environment")
	}
	containers.RequireDocker(t)
	e, err := engine.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Client.ServerVersion(t.Context())
	if err != nil {
		t.Fatalf("engine version: %v", err)
	}
	info, err := e.Client.Info(t.Context())
	if err != nil {
		t.Fatalf("engine info: %v", err)
	}
	fmt.Printf("engine: Docker %s (API %s, %s/%s, %d CPUs)\n", v.Version, v.APIVersion, v.Os, v.Arch, info.NCPU)
	fmt.Printf("storage: %s, cgroup %s %s, kernel %s\n", info.Driver, info.CgroupDriver, info.CgroupVersion, info.KernelVersion)
	fmt.Printf("go: %s\n", runtime.Version())
	fmt.Printf("cpus: %d\n", runtime.NumCPU())
}
