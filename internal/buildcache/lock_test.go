package buildcache

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/leakcheck"
)

// The lock helper process: when the test binary runs with these variables
// set, TestMain takes the lock, says so on stdout and holds it until stdin
// closes.
const (
	helperEnv    = "BUILDCACHE_TEST_LOCK_HELPER"
	helperLocked = "locked"
)

func TestMain(m *testing.M) {
	if key := os.Getenv(helperEnv); key != "" {
		os.Exit(lockHelper(key))
	}
	leakcheck.Main(m, "buildcache") // no goroutine may outlive the tests
}

// lockHelper holds the lock for key until stdin is closed.
func lockHelper(key string) int {
	unlock, err := Lock(context.Background(), key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(helperLocked)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	unlock()
	return 0
}

// startHelper runs the lock helper for key with the cache dir of this test
// and waits until it holds the lock.
func startHelper(t *testing.T, key string) (release func(), cmd *exec.Cmd) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+key)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, helperLocked+"\n", line)
	return func() { _ = stdin.Close() }, cmd
}

func TestLockAcrossProcesses(t *testing.T) {
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	const key = "abc123"
	release, cmd := startHelper(t, key)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Lock(ctx, key)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the other process holds the lock")

	// Another key is independent.
	unlockOther, err := Lock(context.Background(), "other")
	require.NoError(t, err)
	unlockOther()

	release()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	unlock, err := Lock(ctx, key)
	require.NoError(t, err, "released by the other process")
	t.Logf("acquired %v after release", time.Since(start))
	unlock()
	require.NoError(t, cmd.Wait())
}

func TestLockReleasedWhenHolderDies(t *testing.T) {
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	const key = "dies"
	_, cmd := startHelper(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Lock(ctx, key)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := Lock(ctx, key)
	require.NoError(t, err, "a crashed holder leaves no stale lock")
	unlock()
}

func TestLockInProcess(t *testing.T) {
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	unlock, err := Lock(context.Background(), "k")
	require.NoError(t, err)

	got := make(chan error, 1)
	go func() {
		unlock2, err := Lock(context.Background(), "k")
		if err == nil {
			unlock2()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second Lock returned while the first was held: %v", err)
	case <-time.After(150 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("second Lock not acquired after unlock")
	}
}

func TestLockCanceledBeforeStart(t *testing.T) {
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Lock(ctx, "k")
	assert.ErrorIs(t, err, context.Canceled)
}

func TestInvalidKeys(t *testing.T) {
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	for _, k := range []string{"", "../x", "a/b", ".hidden", "a b", string(make([]byte, 129))} {
		_, err := Lock(context.Background(), k)
		assert.ErrorIs(t, err, ErrInvalidKey, "%q", k)
		assert.ErrorIs(t, Touch(k), ErrInvalidKey, "%q", k)
		assert.ErrorIs(t, Forget(k), ErrInvalidKey, "%q", k)
		_, ok := LastUsed(k)
		assert.False(t, ok)
	}
}

func TestTouchLastUsed(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CONTAINERTEST_CACHE_DIR", dir)
	const key = "0123abcd"
	_, ok := LastUsed(key)
	assert.False(t, ok)

	before := time.Now()
	require.NoError(t, Touch(key))
	used, ok := LastUsed(key)
	require.True(t, ok)
	assert.WithinDuration(t, before, used, time.Second)
	assert.FileExists(t, filepath.Join(dir, "used", key))

	old := time.Now().Add(-72 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "used", key), old, old))
	used, _ = LastUsed(key)
	assert.WithinDuration(t, old, used, time.Second)
	require.NoError(t, Touch(key))
	used, _ = LastUsed(key)
	assert.WithinDuration(t, time.Now(), used, time.Second, "Touch moves the record forward")

	require.NoError(t, Forget(key))
	_, ok = LastUsed(key)
	assert.False(t, ok)
	require.NoError(t, Forget(key), "forgetting twice is fine")
}

func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CONTAINERTEST_CACHE_DIR", dir)
	got, err := CacheDir()
	require.NoError(t, err)
	assert.Equal(t, dir, got)

	t.Setenv("CONTAINERTEST_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv("HOME", dir)
	got, err = CacheDir()
	require.NoError(t, err)
	user, err := os.UserCacheDir()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(user, "containertest"), got)

	p, err := MemoPath(t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(got, "memo"), filepath.Dir(p))
}
