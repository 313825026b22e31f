package leakcheck_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/internal/engine"
	dvolume "github.com/containertest/containertest/internal/engine/docker/volume"
	"github.com/containertest/containertest/internal/leakcheck"
)

// helperEnv makes the test binary play a package whose tests leave something behind:
// "volume" (a labelled volume), "goroutine", or "clean" (API calls, nothing left).
const helperEnv = "LEAKCHECK_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		leakcheck.Main(m, "helper")
	}
	leakcheck.Main(m, "leakcheck")
}

func TestHelperPackage(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("runs only as a subprocess of the other tests")
	}
	switch mode {
	case "goroutine":
		block := make(chan struct{})
		go func() { <-block }()
		return
	}
	e, err := engine.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Client.VolumeCreate(t.Context(), dvolume.CreateOptions{Labels: engine.Labels()})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("VOLUME=%s\n", v.Name)
	if mode == "clean" {
		if err := e.Client.VolumeRemove(t.Context(), v.Name, true); err != nil {
			t.Fatal(err)
		}
	}
}

// runHelper runs this test binary as a helper package in mode and returns its exit
// code and output.
func runHelper(t *testing.T, mode string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPackage$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("run helper %s: %v\n%s", mode, err, out)
	return 0, ""
}

func requireEngine(t *testing.T) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	e, err := engine.Get(ctx)
	if err != nil {
		engine.FailOrSkip(t, "leakcheck", err)
	}
	return e
}

// A package whose tests pass but whose own cleanup missed a resource fails, at once,
// naming it: the watchdog would remove it later, and hide the broken cleanup.
func TestMainFailsWhenTheTestsLeaveAResource(t *testing.T) {
	e := requireEngine(t)
	code, out := runHelper(t, "volume")
	m := regexp.MustCompile(`VOLUME=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the helper made no volume:\n%s", out)
	}
	t.Cleanup(func() { e.Client.VolumeRemove(context.Background(), m[1], true) })
	if code != 1 || !strings.Contains(out, "helper: leaked resources") || !strings.Contains(out, "volume "+m[1]) {
		t.Errorf("helper exited %d; want 1 and the leaked volume %s named:\n%s", code, m[1], out)
	}
}

func TestMainFailsWhenTheTestsLeaveAGoroutine(t *testing.T) {
	code, out := runHelper(t, "goroutine")
	if code != 1 || !strings.Contains(out, "helper: leaked goroutines") || !strings.Contains(out, "TestHelperPackage") {
		t.Errorf("helper exited %d; want 1 and the leaked goroutine named:\n%s", code, out)
	}
}

// Idle connections of the shared client are not a leak.
func TestMainPassesWhenTheTestsCleanUp(t *testing.T) {
	requireEngine(t)
	if code, out := runHelper(t, "clean"); code != 0 {
		t.Errorf("helper exited %d; want 0:\n%s", code, out)
	}
}

// Every package with tests that the README's test command runs (this module and
// examples/) checks its leftovers in TestMain with Main: a package without it passes
// with a broken cleanup, because the watchdog removes what the tests left when the
// process ends.
func TestEveryPackageChecksItsLeftovers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	withTests := map[string]bool{} // package dir -> has a TestMain calling leakcheck.Main
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if rel, _ := filepath.Rel(root, path); rel == filepath.Join("internal", "bench") {
				return filepath.SkipDir // a module of its own, outside CI
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		withTests[dir] = withTests[dir] || false
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if regexp.MustCompile(`(?s)func TestMain\(m \*testing\.M\).*leakcheck\.Main\(m, `).Match(src) {
			withTests[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for dir, ok := range withTests {
		if !ok {
			rel, _ := filepath.Rel(root, dir)
			missing = append(missing, rel)
		}
	}
	slices.Sort(missing)
	if len(withTests) < 5 {
		t.Fatalf("found only %d test packages under %s", len(withTests), root)
	}
	if len(missing) > 0 {
		t.Errorf("packages whose TestMain does not call leakcheck.Main: %s", strings.Join(missing, ", "))
	}
}
