package cachedir

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDirFromEnvAndUserCacheDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(Env, dir)
	got, err := Dir()
	require.NoError(t, err)
	assert.Equal(t, dir, got)

	t.Setenv(Env, "")
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv("HOME", dir)
	got, err = Dir()
	require.NoError(t, err)
	user, err := os.UserCacheDir()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(user, "containertest"), got)
}

// withoutHome clears what os.UserCacheDir reads, so that it fails, and points the
// temporary directory at a fresh one; it returns that and captures the announcement.
func withoutHome(t *testing.T) (tmp string, out *bytes.Buffer) {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("the user cache directory does not come from HOME here")
	}
	tmp = t.TempDir()
	t.Setenv(Env, "")
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("TMPDIR", tmp)
	_, err := os.UserCacheDir()
	require.Error(t, err, "os.UserCacheDir still finds a directory")
	out = &bytes.Buffer{}
	old := warn
	warn = out
	t.Cleanup(func() { warn = old })
	return tmp, out
}

func TestDirWithoutHomeFallsBackToTemp(t *testing.T) {
	tmp, out := withoutHome(t)
	got, err := Dir()
	require.NoError(t, err)
	assert.Equal(t, tmp, filepath.Dir(got))
	assert.True(t, strings.HasPrefix(filepath.Base(got), "containertest-"), got)
	fi, err := os.Stat(got)
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	// Said once, however often asked.
	for range 3 {
		again, err := Dir()
		require.NoError(t, err)
		assert.Equal(t, got, again)
	}
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), out.String())
	assert.Contains(t, out.String(), got)
	assert.Contains(t, out.String(), Env)
}

func TestDirWithoutHomeRefusesAnUnsafeFallback(t *testing.T) {
	withoutHome(t)
	want, err := Default()
	require.NoError(t, err)
	require.NoError(t, os.Remove(want))

	// A directory others can write to is not used...
	require.NoError(t, os.Mkdir(want, 0o777))
	require.NoError(t, os.Chmod(want, 0o777))
	_, err = Dir()
	require.ErrorContains(t, err, "writable by others")
	assert.ErrorContains(t, err, Env)
	require.NoError(t, os.Remove(want))

	// ...nor a symbolic link to somewhere else.
	require.NoError(t, os.Symlink(t.TempDir(), want))
	_, err = Dir()
	require.ErrorContains(t, err, "not a directory")
}
