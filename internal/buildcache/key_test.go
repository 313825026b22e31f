package buildcache

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// baseIDs are image ids for the base images of testDockerfile.
var baseIDs = map[string]string{"busybox:latest": "sha256:1111"}

const testDockerfile = "FROM busybox:latest\nCOPY . /app\n"

// newContext makes a context directory with a Dockerfile and the given
// files (content by slash path), all with fixed modes.
func newContext(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", testDockerfile)
	for name, content := range files {
		writeFile(t, dir, name, content)
	}
	fixDirModes(t, dir)
	return dir
}

// fixDirModes sets every directory under dir to 0755 so that keys do not
// depend on the umask.
func fixDirModes(t testing.TB, dir string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return os.Chmod(p, 0o755)
	}))
}

// key computes the key of the context dir with default inputs.
func key(t testing.TB, in Input) string {
	t.Helper()
	k, err := Key(context.Background(), in, baseIDs, nil)
	require.NoError(t, err)
	require.Len(t, k, 64)
	return k
}

// countReads makes openForHash count the files it opens until the test
// ends. Tests that use it must not run in parallel.
func countReads(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	orig := openForHash
	openForHash = func(name string) (hashSource, error) {
		n.Add(1)
		return orig(name)
	}
	t.Cleanup(func() { openForHash = orig })
	return &n
}

// noRacyMargin trusts memo entries for files written just before they were
// hashed, so tests need not wait racyMargin. Not for parallel tests.
func noRacyMargin(t *testing.T) {
	orig := racyMargin
	racyMargin = 0
	t.Cleanup(func() { racyMargin = orig })
}

var baseFiles = map[string]string{
	"main.go":           "package main\n",
	"lib/a.txt":         "a",
	"lib/deep/b.txt":    "b",
	".dockerignore":     "*.log\nsecret/\n!secret/public.txt\n",
	"app.log":           "noise",
	"secret/key.pem":    "-----BEGIN PRIVATE KEY-----",
	"secret/public.txt": "public",
}

func TestKeyStable(t *testing.T) {
	t.Parallel()
	dir := newContext(t, baseFiles)
	in := Input{ContextDir: dir}
	k1 := key(t, in)
	assert.Equal(t, k1, key(t, in), "same context, same key")

	// The same content elsewhere, created in another order, with other
	// mtimes, gives the same key.
	other := t.TempDir()
	names := make([]string, 0, len(baseFiles))
	for n := range baseFiles {
		names = append(names, n)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		p := writeFile(t, other, n, baseFiles[n])
		old := time.Now().Add(-time.Duration(len(n)) * time.Hour)
		require.NoError(t, os.Chtimes(p, old, old))
	}
	writeFile(t, other, "Dockerfile", testDockerfile)
	fixDirModes(t, other)
	assert.Equal(t, k1, key(t, Input{ContextDir: other}))

	// The same platform spelled differently is the same build.
	assert.Equal(t, key(t, Input{ContextDir: dir, Platform: "linux/amd64"}), key(t, Input{ContextDir: dir, Platform: "linux/x86_64"}))
	assert.NotEqual(t, key(t, Input{ContextDir: dir, Platform: "linux/amd64"}), key(t, Input{ContextDir: dir, Platform: "linux/arm64"}))

	// A symlink to the context is the same context.
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(dir, link))
	assert.Equal(t, k1, key(t, Input{ContextDir: link}))
}

// TestKeyGolden pins the encoding: a key must not change between versions
// of this package or machines unless keyVersion is bumped on purpose.
func TestKeyGolden(t *testing.T) {
	t.Parallel()
	// "d-e.txt" sorts after "d/b.txt" in tree order, before it as strings.
	dir := newContext(t, map[string]string{"a.txt": "a", "d/b.txt": "b", "d-e.txt": "e"})
	in := Input{ContextDir: dir, BuildArgs: map[string]*string{"X": strp("1"), "Y": nil}, Target: "", Platform: "linux/amd64"}
	assert.Equal(t, "8b4647e6792d2bb64b4a85ac1a7938c3acf0afc8bdd23a4dde4a0bbf2bef9621", key(t, in))
}

func TestKeyChanges(t *testing.T) {
	t.Parallel()
	type change struct {
		name string
		// edit changes the context dir or the input.
		edit func(t *testing.T, dir string, in *Input, ids map[string]string)
		// same is true if the key must stay the same.
		same bool
	}
	changes := []change{
		{name: "file content", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "lib/a.txt", "A")
		}},
		{name: "file mode", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			require.NoError(t, os.Chmod(filepath.Join(dir, "main.go"), 0o755))
		}},
		{name: "dir mode", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			require.NoError(t, os.Chmod(filepath.Join(dir, "lib"), 0o700))
		}},
		{name: "new file", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "lib/new.txt", "")
		}},
		{name: "new empty dir", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))
			require.NoError(t, os.Chmod(filepath.Join(dir, "empty"), 0o755))
		}},
		{name: "removed file", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "lib/deep/b.txt")))
		}},
		{name: "rename", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			require.NoError(t, os.Rename(filepath.Join(dir, "lib/a.txt"), filepath.Join(dir, "lib/c.txt")))
		}},
		{name: "move between dirs", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			require.NoError(t, os.Rename(filepath.Join(dir, "lib/deep/b.txt"), filepath.Join(dir, "lib/b.txt")))
		}},
		{name: "symlink", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			require.NoError(t, os.Symlink("main.go", filepath.Join(dir, "link")))
		}},
		{name: "re-included file", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "secret/public.txt", "changed")
		}},
		{name: "dockerignore", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, ".dockerignore", "*.log\nsecret/\n")
		}},
		{name: "Dockerfile", edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "Dockerfile", testDockerfile+"RUN true\n")
		}},
		{name: "build arg value", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.BuildArgs["A"] = strp("2")
		}},
		{name: "new build arg", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.BuildArgs["B"] = strp("")
		}},
		{name: "build arg without value", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.BuildArgs["B"] = nil
		}},
		{name: "target", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Target = "final"
		}},
		{name: "platform", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Platform = "linux/arm64"
		}},
		{name: "label value", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Labels = map[string]string{"com.example.l": "2"}
		}},
		{name: "new label", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Labels["com.example.m"] = ""
		}},
		{name: "label name", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Labels = map[string]string{"com.example.L": "1"}
		}},
		{name: "builder", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Builder = "classic"
		}},
		{name: "new secret", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Secrets["other"] = "value"
		}},
		{name: "secret source", edit: func(_ *testing.T, _ string, in *Input, _ map[string]string) {
			in.Secrets["tok"] = "env:OTHER_TOKEN"
		}},
		{name: "base image id", edit: func(_ *testing.T, _ string, _ *Input, ids map[string]string) {
			ids["busybox:latest"] = "sha256:2222"
		}},

		{name: "ignored file changed", same: true, edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "app.log", "other noise")
		}},
		{name: "ignored file added", same: true, edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "x.log", "x")
			writeFile(t, dir, "secret/other.pem", "x")
		}},
		{name: "file in ignored dir changed", same: true, edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "secret/key.pem", "-----BEGIN OTHER KEY-----")
		}},
		{name: "mtime only", same: true, edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			old := time.Now().Add(-48 * time.Hour)
			for _, p := range []string{"main.go", "lib", "lib/a.txt", "Dockerfile", ".dockerignore"} {
				require.NoError(t, os.Chtimes(filepath.Join(dir, p), old, old))
			}
		}},
		{name: "rewrite with same content", same: true, edit: func(t *testing.T, dir string, _ *Input, _ map[string]string) {
			writeFile(t, dir, "lib/a.txt", "a")
		}},
		{name: "unrelated image id", same: true, edit: func(_ *testing.T, _ string, _ *Input, ids map[string]string) {
			ids["alpine"] = "sha256:3333"
		}},
	}
	const df = "FROM busybox:latest AS base\nARG A\nCOPY . /app\nFROM base AS final\n"
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := newContext(t, baseFiles)
			writeFile(t, dir, "Dockerfile", df)
			in := Input{ContextDir: dir, BuildArgs: map[string]*string{"A": strp("1")},
				Labels: map[string]string{"com.example.l": "1"}, Builder: "buildkit",
				Secrets: map[string]string{"tok": "env:TOKEN"}}
			ids := map[string]string{"busybox:latest": "sha256:1111"}
			before, err := Key(context.Background(), in, ids, nil)
			require.NoError(t, err)
			c.edit(t, dir, &in, ids)
			after, err := Key(context.Background(), in, ids, nil)
			require.NoError(t, err)
			if c.same {
				assert.Equal(t, before, after)
			} else {
				assert.NotEqual(t, before, after)
			}
		})
	}
}

func TestComparePaths(t *testing.T) {
	t.Parallel()
	// Tree order: each directory's entries follow it directly.
	want := []string{"", ".a", "a", "a/b", "a/b/c", "a/b-c", "a/bc", "a-b", "a0", "ab", "b"}
	for i, a := range want {
		for j, b := range want {
			assert.Equal(t, cmp.Compare(i, j), comparePaths(a, b), "%q vs %q", a, b)
		}
	}
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	slices.SortFunc(shuffled, comparePaths)
	assert.Equal(t, want, shuffled)
}

func TestKeyWalkIsInTreeOrder(t *testing.T) {
	t.Parallel()
	dir := newContext(t, map[string]string{
		"a/b/c.txt": "1", "a/b-c.txt": "1", "a/bc.txt": "1", "a-b.txt": "1", "a0/x": "1", "z": "1",
	})
	got := collectPaths(t, Input{ContextDir: dir})
	assert.Equal(t, []string{
		"Dockerfile", "a", "a/b", "a/b/c.txt", "a/b-c.txt", "a/bc.txt", "a-b.txt", "a0", "a0/x", "z",
	}, got)
	assert.True(t, slices.IsSortedFunc(got, comparePaths))

	// The memo keeps that order, so a warm key merges it in one pass and
	// reads nothing.
	noRacyMargin(t)
	path := filepath.Join(t.TempDir(), "ctx.memo")
	m := LoadMemo(path)
	k0, err := Key(context.Background(), Input{ContextDir: dir}, baseIDs, m)
	require.NoError(t, err)
	require.NoError(t, m.Save())
	m = LoadMemo(path)
	require.Equal(t, 7, memoLen(m))
	for i := 1; i < m.n; i++ {
		assert.Negative(t, comparePaths(m.pathAt(i-1), m.pathAt(i)))
	}
	r, err := Input{ContextDir: dir}.resolve()
	require.NoError(t, err)
	entries, err := collect(context.Background(), r)
	require.NoError(t, err)
	todo := m.lookupAll(r.contextDir, entries)
	assert.Empty(t, todo)
	k1, err := Key(context.Background(), Input{ContextDir: dir}, baseIDs, m)
	require.NoError(t, err)
	assert.Equal(t, k0, k1)
}

// collectPaths returns the context paths of in that count for the key, in
// the walk's order.
func collectPaths(t *testing.T, in Input) []string {
	t.Helper()
	r, err := in.resolve()
	require.NoError(t, err)
	entries, err := collect(context.Background(), r)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.rel)
	}
	return got
}

func TestKeyDockerignoreExceptions(t *testing.T) {
	t.Parallel()
	dir := newContext(t, map[string]string{
		".dockerignore":       "# comment\n**/*.tmp\nbuild\n!build/keep/**\ndocs/*.md\n!docs/README.md\n",
		"build/out.bin":       "1",
		"build/keep/conf.txt": "1",
		"docs/a.md":           "1",
		"docs/README.md":      "1",
		"src/x.tmp":           "1",
		"src/x.go":            "1",
	})
	got := collectPaths(t, Input{ContextDir: dir})
	assert.Equal(t, []string{
		".dockerignore", "Dockerfile",
		// build/keep itself is excluded by "build" and not re-included
		// by "!build/keep/**": the archive has its file but not its
		// directory entry, and so does the key.
		"build/keep/conf.txt",
		"docs", "docs/README.md",
		"src", "src/x.go",
	}, got)
}

func TestKeyDockerfileAndIgnoreFileAlwaysCount(t *testing.T) {
	t.Parallel()
	dir := newContext(t, map[string]string{".dockerignore": "*\n", "a.txt": "a"})
	r, err := Input{ContextDir: dir}.resolve()
	require.NoError(t, err)
	entries, err := collect(context.Background(), r)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, ".dockerignore", entries[0].rel)
	assert.Equal(t, "Dockerfile", entries[1].rel)
}

func TestKeyDockerfileOutsideContext(t *testing.T) {
	t.Parallel()
	dir := newContext(t, map[string]string{"a.txt": "a"})
	ext := writeFile(t, t.TempDir(), "build.Dockerfile", "FROM busybox:latest\n")
	in := Input{ContextDir: dir, Dockerfile: ext}
	k1 := key(t, in)
	writeFile(t, filepath.Dir(ext), "build.Dockerfile", "FROM busybox:latest\nRUN true\n")
	assert.NotEqual(t, k1, key(t, in))

	rel := Input{ContextDir: dir, Dockerfile: "sub/dir/x.Dockerfile"}
	writeFile(t, dir, "sub/dir/x.Dockerfile", "FROM busybox:latest\n")
	key(t, rel)
}

func TestKeyErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := newContext(t, nil)
	missing := filepath.Join(t.TempDir(), "nope")

	_, err := Key(ctx, Input{ContextDir: missing}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrNoContext)
	assert.Contains(t, err.Error(), missing)

	_, err = Key(ctx, Input{ContextDir: filepath.Join(dir, "Dockerfile")}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrNoContext)
	assert.Contains(t, err.Error(), "not a directory")

	_, err = Key(ctx, Input{}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrNoContext)

	empty := t.TempDir()
	_, err = Key(ctx, Input{ContextDir: empty}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrNoDockerfile)
	assert.Contains(t, err.Error(), filepath.Join(empty, "Dockerfile"))

	_, err = Key(ctx, Input{ContextDir: dir, Dockerfile: "other/Dockerfile"}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrNoDockerfile)
	assert.Contains(t, err.Error(), filepath.Join(dir, "other", "Dockerfile"))

	_, err = Key(ctx, Input{ContextDir: dir, Dockerfile: missing}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrNoDockerfile)
	assert.Contains(t, err.Error(), missing)

	_, err = Key(ctx, Input{ContextDir: dir, Dockerfile: dir}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrNoDockerfile)

	_, err = Key(ctx, Input{ContextDir: dir}, map[string]string{"alpine": "x"}, nil)
	assert.ErrorIs(t, err, ErrMissingBaseImage)
	assert.Contains(t, err.Error(), `"busybox:latest"`)

	bad := newContext(t, nil)
	writeFile(t, bad, "Dockerfile", "FROM busybox\nRUNN x\n")
	_, err = Key(ctx, Input{ContextDir: bad}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrInvalidDockerfile)
	assert.Contains(t, err.Error(), filepath.Join(bad, "Dockerfile")+":2")

	_, err = Key(ctx, Input{ContextDir: dir, Target: "nope"}, baseIDs, nil)
	assert.ErrorIs(t, err, ErrUnknownTarget)

	bad = newContext(t, map[string]string{".dockerignore": "[\n"})
	_, err = Key(ctx, Input{ContextDir: bad}, baseIDs, nil)
	assert.ErrorContains(t, err, ".dockerignore")
}

func TestKeyCanceled(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("d%d/f%d", i%5, i)] = "x"
	}
	dir := newContext(t, files)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Key(ctx, Input{ContextDir: dir}, baseIDs, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestMemoWarmPathReadsNothing(t *testing.T) {
	noRacyMargin(t)
	reads := countReads(t)
	dir := newContext(t, baseFiles)
	in := Input{ContextDir: dir}
	memo := LoadMemo(filepath.Join(t.TempDir(), "memo"))

	cold, err := Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	// Dockerfile, .dockerignore, main.go, lib/a.txt, lib/deep/b.txt,
	// secret/public.txt: ignored files are never read.
	assert.EqualValues(t, 6, reads.Load())

	reads.Store(0)
	warm, err := Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	assert.Equal(t, cold, warm)
	assert.Zero(t, reads.Load(), "warm run must not read files")

	// The warm key really comes from the memo: a forged memo hash shows.
	forgeSum(t, memo, "main.go")
	forged, err := Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	assert.NotEqual(t, cold, forged)
	assert.Zero(t, reads.Load())
}

func TestMemoNoticesChanges(t *testing.T) {
	noRacyMargin(t)
	reads := countReads(t)
	dir := newContext(t, baseFiles)
	in := Input{ContextDir: dir}
	memo := LoadMemo(filepath.Join(t.TempDir(), "memo"))
	k0, err := Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	p := filepath.Join(dir, "lib/a.txt")
	keyReads := func() (string, int64) {
		t.Helper()
		reads.Store(0)
		k, err := Key(context.Background(), in, baseIDs, memo)
		require.NoError(t, err)
		return k, reads.Load()
	}

	// mtime changed, content not: read again, same key; then trusted.
	earlier := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(p, earlier, earlier))
	k, n := keyReads()
	assert.EqualValues(t, 1, n)
	assert.Equal(t, k0, k)
	k, n = keyReads()
	assert.Zero(t, n)
	assert.Equal(t, k0, k)

	// Same size, mtime put back: only the ctime gives it away.
	require.NoError(t, os.WriteFile(p, []byte("Z"), 0o644))
	require.NoError(t, os.Chtimes(p, earlier, earlier))
	k, n = keyReads()
	assert.EqualValues(t, 1, n)
	assert.NotEqual(t, k0, k)

	// Replaced by another file (new inode) with the same size and mtime.
	tmp := filepath.Join(dir, "tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("a"), 0o644))
	require.NoError(t, os.Chtimes(tmp, earlier, earlier))
	require.NoError(t, os.Rename(tmp, p))
	k, n = keyReads()
	assert.EqualValues(t, 1, n)
	assert.Equal(t, k0, k)
}

func TestMemoRacyEntriesAreRehashed(t *testing.T) {
	reads := countReads(t)
	// However slow this machine, the files are hashed within the margin
	// of being written.
	orig := racyMargin
	racyMargin = time.Hour
	t.Cleanup(func() { racyMargin = orig })
	dir := newContext(t, map[string]string{"a.txt": "a"})
	in := Input{ContextDir: dir}
	memo := LoadMemo(filepath.Join(t.TempDir(), "memo"))
	_, err := Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	// The files were written less than racyMargin before they were
	// hashed: a write in the same clock tick would not show, so the hash
	// is not trusted yet.
	reads.Store(0)
	_, err = Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	assert.EqualValues(t, 2, reads.Load())

	// Once a file is older than the margin when hashed, it is trusted.
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{"a.txt", "Dockerfile"} {
		require.NoError(t, os.Chtimes(filepath.Join(dir, n), old, old))
	}
	racyMargin = 0 // the ctime cannot be set back; pretend it is old too
	_, err = Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	reads.Store(0)
	_, err = Key(context.Background(), in, baseIDs, memo)
	require.NoError(t, err)
	assert.Zero(t, reads.Load())
}

func TestMemoPersists(t *testing.T) {
	noRacyMargin(t)
	reads := countReads(t)
	dir := newContext(t, baseFiles)
	in := Input{ContextDir: dir}
	path := filepath.Join(t.TempDir(), "memo", "ctx.memo")

	m := LoadMemo(path)
	k0, err := Key(context.Background(), in, baseIDs, m)
	require.NoError(t, err)
	require.NoError(t, m.Save())

	reads.Store(0)
	m = LoadMemo(path)
	k, err := Key(context.Background(), in, baseIDs, m)
	require.NoError(t, err)
	assert.Equal(t, k0, k)
	assert.Zero(t, reads.Load(), "a loaded memo makes the run warm")

	// Nothing changed: Save does not rewrite the file.
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(path, old, old))
	require.NoError(t, m.Save())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.WithinDuration(t, old, fi.ModTime(), time.Second)

	// Deleted files leave the memo on the next save.
	require.NoError(t, os.Remove(filepath.Join(dir, "lib/a.txt")))
	m = LoadMemo(path)
	_, err = Key(context.Background(), in, baseIDs, m)
	require.NoError(t, err)
	require.NoError(t, m.Save())
	m = LoadMemo(path)
	assert.Equal(t, 5, memoLen(m))
	_, _, ok := m.find("lib/a.txt")
	assert.False(t, ok)
	_, _, ok = m.find("main.go")
	assert.True(t, ok)
}

func TestMemoOfAnotherDirectory(t *testing.T) {
	noRacyMargin(t)
	reads := countReads(t)
	a := newContext(t, baseFiles)
	b := newContext(t, baseFiles)
	path := filepath.Join(t.TempDir(), "ctx.memo")
	m := LoadMemo(path)
	ka, err := Key(context.Background(), Input{ContextDir: a}, baseIDs, m)
	require.NoError(t, err)
	require.NoError(t, m.Save())

	// The memo of a, used for b: nothing of a is trusted for b.
	reads.Store(0)
	m = LoadMemo(path)
	kb, err := Key(context.Background(), Input{ContextDir: b}, baseIDs, m)
	require.NoError(t, err)
	assert.EqualValues(t, 6, reads.Load())
	assert.Equal(t, ka, kb, "same content, same key")
	require.NoError(t, m.Save())
	m = LoadMemo(path)
	rb, err := resolveContextDir(b)
	require.NoError(t, err)
	assert.Equal(t, rb, m.root)
	assert.Equal(t, 6, memoLen(m))
}

func TestMemoCorruptFileIgnored(t *testing.T) {
	noRacyMargin(t)
	reads := countReads(t)
	dir := newContext(t, baseFiles)
	in := Input{ContextDir: dir}
	path := filepath.Join(t.TempDir(), "ctx.memo")
	m := LoadMemo(path)
	k0, err := Key(context.Background(), in, baseIDs, m)
	require.NoError(t, err)
	require.NoError(t, m.Save())
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 6, memoLen(LoadMemo(path)))

	corrupt := map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)/2],
		"garbage":   []byte("not a memo at all, but long enough to pass the length checks........"),
		"flipped":   append(append([]byte{}, good[:len(good)-40]...), append([]byte{good[len(good)-40] ^ 1}, good[len(good)-39:]...)...),
		"version":   append(append([]byte(memoMagic), memoVersion+1), good[len(memoMagic)+1:]...),
	}
	for name, data := range corrupt {
		require.NoError(t, os.WriteFile(path, data, 0o644))
		m := LoadMemo(path)
		assert.Zero(t, memoLen(m), name)
		reads.Store(0)
		k, err := Key(context.Background(), in, baseIDs, m)
		require.NoError(t, err, name)
		assert.Equal(t, k0, k, name)
		assert.EqualValues(t, 6, reads.Load(), name)
	}
}

func TestMemoDecodeRejectsLyingLengths(t *testing.T) {
	t.Parallel()
	// A well-checksummed file whose counts lie must not panic.
	head := append([]byte(memoMagic), memoVersion)
	rec := func(end uint32) []byte {
		r := make([]byte, memoRecSize)
		binary.LittleEndian.PutUint32(r, end)
		return r
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, body := range [][]byte{
		cat(head, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}),            // root longer than the file
		cat(head, []byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f}),         // more entries than fit
		cat(head, []byte{0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}), // paths longer than the file
		cat(head, []byte{1, '/', 1, 1, 'a'}, rec(1), []byte{0}),    // trailing bytes
		cat(head, []byte{1, '/', 2, 1, 'a'}, rec(1)),               // a record missing
		cat(head, []byte{1, '/', 1, 1, 'a'}, rec(2)),               // path ends after the paths
		cat(head, []byte{1, '/', 1, 2, 'a', 'b'}, rec(1)),          // paths not all used
		cat(head, []byte{1, '/', 2, 2, 'a', 'b'}, rec(2), rec(1)),  // a path ends before it starts
		cat(head, []byte{0, 0}),                                    // truncated
		cat(head, []byte{9, '/'}),                                  // truncated root
	} {
		data := encodeMemoChecksum(body)
		assert.ErrorIs(t, new(Memo).decode(data), errCorruptMemo)
	}
}

func TestMemoDecodeRejectsUnsorted(t *testing.T) {
	t.Parallel()
	e := &memoEntry{}
	for _, paths := range [][]string{{"/b", "/a"}, {"/a", "/a"}} {
		data := encodeMemo("/ctx", paths, []*memoEntry{e, e})
		assert.ErrorIs(t, new(Memo).decode(data), errCorruptMemo, "%v", paths)
	}
	data := encodeMemo("/ctx", []string{"/a", "/b"}, []*memoEntry{e, e})
	m := new(Memo)
	require.NoError(t, m.decode(data))
	assert.Equal(t, 2, memoLen(m))
	assert.Equal(t, "/ctx", m.root)
}

// forgeSum changes the remembered hash of path in m, wherever it is kept.
func forgeSum(t *testing.T, m *Memo, path string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.added[path]; ok {
		e.sum[0] ^= 0xff
		return
	}
	i := m.search(path)
	require.True(t, i < m.n && m.pathAt(i) == path, "%s is not in the memo", path)
	m.sumAt(i)[0] ^= 0xff
}

// memoLen returns the number of entries of m.
func memoLen(m *Memo) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.added)
	for i := range m.n {
		if _, ok := m.added[m.pathAt(i)]; !ok {
			n++
		}
	}
	return n
}

func TestMemoConcurrentSaves(t *testing.T) {
	noRacyMargin(t)
	dir := newContext(t, baseFiles)
	in := Input{ContextDir: dir}
	path := filepath.Join(t.TempDir(), "ctx.memo")
	k0 := key(t, in)
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for range 20 {
				m := LoadMemo(path)
				if i%2 == 0 {
					m.dirty = true // force a rewrite
				}
				var k string
				if k, err = Key(context.Background(), in, baseIDs, m); err != nil {
					break
				}
				if k != k0 {
					err = errors.New("key changed")
					break
				}
				if err = m.Save(); err != nil {
					break
				}
				if data, rerr := os.ReadFile(path); rerr == nil {
					if err = new(Memo).decode(data); err != nil {
						break
					}
				}
			}
			done <- err
		}()
	}
	for range 8 {
		assert.NoError(t, <-done)
	}
	leftovers, err := filepath.Glob(path + ".tmp-*")
	require.NoError(t, err)
	assert.Empty(t, leftovers)
}

// encodeMemoChecksum appends the checksum decode expects to body.
func encodeMemoChecksum(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, crcTable))
}

func TestKeyFileChangedWhileHashing(t *testing.T) {
	noRacyMargin(t)
	dir := newContext(t, map[string]string{"grow.txt": "short"})
	p := filepath.Join(dir, "grow.txt")
	orig := openForHash
	t.Cleanup(func() { openForHash = orig })
	openForHash = func(name string) (hashSource, error) {
		f, err := orig(name)
		if name == p {
			// Another process appends after the walk stat'ed the file.
			require.NoError(t, os.WriteFile(p, []byte("short, then much longer"), 0o644))
		}
		return f, err
	}
	memo := LoadMemo(filepath.Join(t.TempDir(), "memo"))
	got, err := Key(context.Background(), Input{ContextDir: dir}, baseIDs, memo)
	require.NoError(t, err)
	openForHash = orig

	// The key describes the file as it was read, completely.
	assert.Equal(t, key(t, Input{ContextDir: dir}), got)
	// And its hash was not remembered against stat data it may not match.
	memo.mu.Lock()
	_, _, ok := memo.find("grow.txt")
	memo.mu.Unlock()
	assert.False(t, ok)
}
