// Package cachedir finds the directory that holds the framework's files on this machine
// (build-cache memos and locks, the reaper's markers): CONTAINERTEST_CACHE_DIR, else
// containertest under the user cache directory, else, when the environment names no
// user cache directory (HOME unset, as in some CI containers and service accounts), a
// directory of this user's under the system's temporary directory. The fallback is
// announced once per process on standard error.
package cachedir

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Env is the environment variable that chooses the directory.
const Env = "CONTAINERTEST_CACHE_DIR"

// Dir returns the directory for the framework's files; it does not create it, except
// for the temporary fallback (see Default).
func Dir() (string, error) {
	if d := os.Getenv(Env); d != "" {
		return filepath.Abs(d)
	}
	return Default()
}

// Default returns the directory used when CONTAINERTEST_CACHE_DIR is not set:
// containertest under os.UserCacheDir, or, when there is none, containertest-<uid>
// under os.TempDir, created private to this user. Every process of the user finds the
// same directory, so locks and markers are still shared.
func Default() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return fallback(err)
	}
	return filepath.Join(d, "containertest"), nil
}

// warn is where the fallback is announced; a variable for tests.
var warn io.Writer = os.Stderr

var announce sync.Map // fallback dir -> struct{}: announced already

func fallback(cause error) (string, error) {
	name := "containertest"
	if uid := os.Getuid(); uid >= 0 {
		name += "-" + strconv.Itoa(uid)
	}
	d := filepath.Join(os.TempDir(), name)
	if err := ensurePrivate(d); err != nil {
		return "", fmt.Errorf("find cache dir: %w; and the fallback %s: %w (set %s)", cause, d, err, Env)
	}
	if _, seen := announce.LoadOrStore(d, struct{}{}); !seen {
		fmt.Fprintf(warn, "containertest: no user cache directory (%v); using %s for the build cache and cleanup markers; set %s to choose one\n", cause, d, Env)
	}
	return d, nil
}

// ensurePrivate creates d (mode 0700) if it is missing and checks that it is a real
// directory of this user's that no one else can write to: in a shared temporary
// directory, another user could have made it first.
func ensurePrivate(d string) error {
	if err := os.Mkdir(d, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	fi, err := os.Lstat(d)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("not a directory")
	}
	return checkOwner(fi)
}
