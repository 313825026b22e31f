package buildcache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// lockRetry is how often Lock retries a held lock.
const lockRetry = 20 * time.Millisecond

// ErrInvalidKey means a key passed to Lock, Touch, LastUsed or Forget is not
// a plain name (it would be unsafe as a file name).
var ErrInvalidKey = errors.New("invalid build cache key")

// checkKey accepts what Key returns and other plain names: ASCII letters,
// digits, '-', '_' and '.', not starting with '.', at most 128 bytes.
func checkKey(key string) error {
	ok := key != "" && len(key) <= 128 && key[0] != '.'
	for i := 0; ok && i < len(key); i++ {
		c := key[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// Lock takes the cross-process lock for key, a file lock (flock) on
// CacheDir()/locks/<key>.lock, waiting until it is free or ctx is done.
// Lock files in one process conflict too, but callers should also
// serialise in process (singleflight) rather than rely on that. The lock
// is released by unlock, or by the operating system when the process dies,
// so a crashed build never leaves a stale lock. Lock files are kept: removing
// a lock file that another process is about to lock would break exclusion.
func Lock(ctx context.Context, key string) (unlock func(), err error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock build %s: %w", key, err)
	}
	fl := flock.New(filepath.Join(dir, key+".lock"))
	locked, err := fl.TryLockContext(ctx, lockRetry)
	if err != nil {
		_ = fl.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("lock build %s: %w", key, ctxErr)
		}
		return nil, fmt.Errorf("lock build %s: %w", key, err)
	}
	if !locked {
		_ = fl.Close()
		return nil, fmt.Errorf("lock build %s: lock not acquired", key)
	}
	return func() { _ = fl.Close() }, nil
}

// usedPath returns the last-used record of key.
func usedPath(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "used", key), nil
}

// Touch records that the image built for key was used now. The record is
// the modification time of the file CacheDir()/used/<key>.
func Touch(key string) error {
	p, err := usedPath(key)
	if err != nil {
		return err
	}
	now := time.Now()
	err = os.Chtimes(p, now, now)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				err = f.Close()
			}
		}
		if err == nil {
			// The new file's mtime is its creation time; set it
			// explicitly in case another process touched it first.
			err = os.Chtimes(p, now, now)
		}
	}
	if err != nil {
		return fmt.Errorf("record use of build %s: %w", key, err)
	}
	return nil
}

// LastUsed returns when Touch was last called for key, and false if never
// (or since Forget).
func LastUsed(key string) (time.Time, bool) {
	p, err := usedPath(key)
	if err != nil {
		return time.Time{}, false
	}
	fi, err := os.Stat(p)
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// Forget removes the last-used record of key, for a pruner that removed
// its image. A missing record is not an error.
func Forget(key string) error {
	p, err := usedPath(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget build %s: %w", key, err)
	}
	return nil
}
