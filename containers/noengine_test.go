package containers_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// noEngineEnv marks the test binary run by TestSuiteWithoutEngine.
const noEngineEnv = "CONTAINERTEST_TEST_NO_ENGINE_CHILD"

// runWithoutEngine runs this package's tests again with DOCKER_HOST naming a socket
// that does not exist (so that no other engine is tried) and returns the exit code
// and output.
func runWithoutEngine(t *testing.T, require bool) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.v", "-test.count=1", "-test.timeout=5m")
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG",
			"CONTAINERTEST_REQUIRE_DOCKER", "CONTAINERTEST_KEEP", "CONTAINERTEST_CACHE_DIR":
			continue
		}
		env = append(env, kv)
	}
	dir := t.TempDir()
	env = append(env,
		noEngineEnv+"=1",
		"DOCKER_HOST=unix://"+filepath.Join(dir, "no-engine.sock"),
		"DOCKER_CONFIG="+dir,
		"CONTAINERTEST_CACHE_DIR="+dir,
	)
	if require {
		env = append(env, "CONTAINERTEST_REQUIRE_DOCKER=1")
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("run the tests without an engine: %v\n%s", err, out)
	return 0, ""
}

// Without an engine every test that needs one skips, saying why, and the run passes;
// with CONTAINERTEST_REQUIRE_DOCKER=1 it fails instead.
func TestSuiteWithoutEngine(t *testing.T) {
	if os.Getenv(noEngineEnv) != "" {
		t.Skip("already the run without an engine")
	}
	if testing.Short() {
		t.Skip("runs the package's tests again")
	}
	code, out := runWithoutEngine(t, false)
	if code != 0 || strings.Contains(out, "--- FAIL") || strings.Contains(out, "panic:") {
		t.Fatalf("without an engine the tests exited %d; want 0, every engine test skipped:\n%s", code, out)
	}
	if !strings.Contains(out, "--- SKIP: TestStartServesAndTearsDown") ||
		!strings.Contains(out, "containers: skipping: docker engine unavailable") ||
		!strings.Contains(out, "no-engine.sock") {
		t.Errorf("without an engine, the tests did not skip naming the missing engine:\n%s", out)
	}

	code, out = runWithoutEngine(t, true)
	if code == 0 || !strings.Contains(out, "--- FAIL: TestStartServesAndTearsDown") {
		t.Errorf("with CONTAINERTEST_REQUIRE_DOCKER=1 and no engine the tests exited %d; want a failure:\n%s", code, out)
	}
}
