package containers_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
)

// envNoHomeChild makes this test binary, run again by TestStartWithoutHome, play a test
// process whose environment has no HOME.
const envNoHomeChild = "CONTAINERTEST_TEST_NO_HOME_CHILD"

// TestStartWithoutHome: with HOME unset (a CI container, a service account) there is no
// user cache directory; Start works anyway, with a directory under TMPDIR, and says so
// once per process.
func TestStartWithoutHome(t *testing.T) {
	if os.Getenv(envNoHomeChild) == "1" {
		for range 2 {
			containers.Image(busybox).Cmd("sh", "-c", nvIdle).Start(t)
		}
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("the user cache directory comes from HOME on Linux only")
	}
	containers.RequireDocker(t)
	// Not t.TempDir: the child's watchdog may still be writing its log there when the
	// test ends.
	tmp, err := os.MkdirTemp("", "nohome")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestStartWithoutHome$", "-test.count=1", "-test.v")
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "XDG_CACHE_HOME", "CONTAINERTEST_CACHE_DIR", "TMPDIR":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envNoHomeChild+"=1", "TMPDIR="+tmp, "CONTAINERTEST_REQUIRE_DOCKER=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestStartWithoutHome")
	assert.Equal(t, 1, strings.Count(string(out), "no user cache directory"), "said once:\n%s", out)
	matches, _ := filepath.Glob(filepath.Join(tmp, "containertest-*"))
	assert.Len(t, matches, 1, "the fallback directory is under TMPDIR")
}
