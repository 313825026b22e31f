package bench

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/containertest/containertest/internal/buildcache"
)

// The context BenchmarkBuildKey hashes: keyFiles files of keyFileSize bytes (100 MB),
// 100 to a directory.
const (
	keyFiles    = 10_000
	keyFileSize = 10_000
)

var (
	keyCtxOnce sync.Once
	keyCtxDir  string
	keyCtxErr  error
)

// keyContext writes the context once per process, with random content so that
// hashing does real work; TestMain removes it.
func keyContext() (string, error) {
	keyCtxOnce.Do(func() {
		dir, err := os.MkdirTemp("", "containertest-bench-key-")
		if err != nil {
			keyCtxErr = err
			return
		}
		cleanups = append(cleanups, func(context.Context, *client.Client) { os.RemoveAll(dir) })
		rng := rand.NewChaCha8([32]byte{1})
		buf := make([]byte, keyFileSize)
		for i := range keyFiles {
			sub := filepath.Join(dir, fmt.Sprintf("d%02d", i/100))
			if i%100 == 0 {
				if err := os.Mkdir(sub, 0o755); err != nil {
					keyCtxErr = err
					return
				}
			}
			_, _ = rng.Read(buf)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d.dat", i)), buf, 0o644); err != nil {
				keyCtxErr = err
				return
			}
		}
		keyCtxErr = os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox:latest\nCOPY . /data\n"), 0o644)
		keyCtxDir = dir
		// The memo does not trust hashes of files changed less than 2 s before they
		// were hashed (racily clean, as in git); a real context is older than that.
		time.Sleep(3 * time.Second)
	})
	return keyCtxDir, keyCtxErr
}

// keyChildEnv, set to a context directory, makes the benchmark binary compute that
// context's key once, as a new test process does, and exit: BenchmarkBuildKey's
// "warm-newproc". BENCH_KEY_MEMO names the memo file.
const keyChildEnv = "BENCH_KEY_CHILD"

// keyBases are the base image ids of the key context's Dockerfile.
var keyBases = map[string]string{"busybox:latest": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}

// keyChild loads the memo, computes the key and saves the memo, then prints the key and
// the time taken ("key <key> <ns>"), and returns the exit code.
func keyChild() int {
	start := time.Now()
	m := buildcache.LoadMemo(os.Getenv("BENCH_KEY_MEMO"))
	k, err := buildcache.Key(context.Background(), buildcache.Input{ContextDir: os.Getenv(keyChildEnv)}, keyBases, m)
	if err == nil {
		err = m.Save()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "key:", err)
		return 1
	}
	fmt.Printf("key %s %d\n", k, time.Since(start))
	return 0
}

// keyNewProcess runs keyChild in a new process of this binary and returns its key and
// the time the child measured (process start-up is not counted).
func keyNewProcess(ctx context.Context, dir, memoPath string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), keyChildEnv+"="+dir, "BENCH_KEY_MEMO="+memoPath)
	out, err := cmd.Output()
	if err != nil {
		return "", 0, fmt.Errorf("key in a new process: %w", err)
	}
	var k string
	var ns int64
	if _, err := fmt.Sscanf(string(out), "key %s %d", &k, &ns); err != nil {
		return "", 0, fmt.Errorf("key in a new process: output %q: %w", out, err)
	}
	return k, time.Duration(ns), nil
}

// BenchmarkBuildKey measures the build cache key of a 10,000-file, 100 MB context the
// way Build computes it in a new test process: load the stat memo from its file,
// compute the key, save the memo. Cold: no memo file yet (every file is read and
// hashed; the files are in the page cache, having just been written). Warm: the memo
// file of an earlier run (only stat calls). Warm-newproc: the same in a new process of
// this binary, whose heap is fresh: every new page of memory costs a page fault, which
// a long-running benchmark process no longer pays. Warm-inproc: a memo already loaded in this
// process, as for a second Build of the same context in one test binary. Memo-load:
// loading the memo file alone (warm ≈ memo-load + warm-inproc). Walk, for reference: a
// plain sequential filepath.WalkDir with an lstat of every entry.
func BenchmarkBuildKey(b *testing.B) {
	dir, err := keyContext()
	if err != nil {
		b.Fatalf("write context: %v", err)
	}
	in := buildcache.Input{ContextDir: dir}
	bases := keyBases
	memoDir := b.TempDir()
	key := func(ctx context.Context, memoPath string) (string, error) {
		m := buildcache.LoadMemo(memoPath)
		k, err := buildcache.Key(ctx, in, bases, m)
		if err != nil {
			return "", err
		}
		return k, m.Save()
	}
	warmPath := filepath.Join(memoDir, "warm.memo")
	want, err := key(b.Context(), warmPath)
	if err != nil {
		b.Fatal(err)
	}
	loaded := buildcache.LoadMemo(warmPath)
	n := 0
	check := func(k string, err error) error {
		if err == nil && k != want {
			err = fmt.Errorf("key changed: %s, want %s", k, want)
		}
		return err
	}
	compare(b, false,
		impl{name: "cold", run: func(ctx context.Context) (time.Duration, error) {
			n++
			p := filepath.Join(memoDir, fmt.Sprintf("cold-%d.memo", n))
			var k string
			d, err := timed(func() (err error) { k, err = key(ctx, p); return err })
			os.Remove(p)
			return d, check(k, err)
		}},
		impl{name: "warm", run: func(ctx context.Context) (time.Duration, error) {
			var k string
			d, err := timed(func() (err error) { k, err = key(ctx, warmPath); return err })
			return d, check(k, err)
		}},
		impl{name: "warm-newproc", run: func(ctx context.Context) (time.Duration, error) {
			k, d, err := keyNewProcess(ctx, dir, warmPath)
			return d, check(k, err)
		}},
		impl{name: "warm-inproc", run: func(ctx context.Context) (time.Duration, error) {
			var k string
			d, err := timed(func() (err error) { k, err = buildcache.Key(ctx, in, bases, loaded); return err })
			return d, check(k, err)
		}},
		impl{name: "memo-load", run: func(ctx context.Context) (time.Duration, error) {
			return timed(func() error {
				buildcache.LoadMemo(warmPath)
				return nil
			})
		}},
		impl{name: "walk", run: func(ctx context.Context) (time.Duration, error) {
			return timed(func() error {
				return filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					_, err = d.Info()
					return err
				})
			})
		}},
	)
}
