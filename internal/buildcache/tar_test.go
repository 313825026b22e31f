package buildcache

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readTar reads the whole archive and returns its raw bytes and its entries
// (directory names without the trailing slash) with their contents.
func readTar(t *testing.T, r io.Reader) ([]byte, map[string]string, []*tar.Header) {
	t.Helper()
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	tr := tar.NewReader(bytes.NewReader(raw))
	files := map[string]string{}
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[strings.TrimSuffix(h.Name, "/")] = string(b)
		hdrs = append(hdrs, h)
	}
	return raw, files, hdrs
}

func TestContextTarNeverSendsIgnoredFiles(t *testing.T) {
	t.Parallel()
	const secret = "TOP-SECRET-7f3a9c"
	dir := newContext(t, map[string]string{
		".dockerignore":       ".env\n**/*.pem\nprivate\n",
		".env":                "PASSWORD=" + secret,
		"certs/server.pem":    secret,
		"private/token":       secret,
		"private/sub/token":   secret,
		"app/main.go":         "package main",
		"app/config/app.yaml": "x: 1",
	})
	bc, err := ContextTar(context.Background(), Input{ContextDir: dir})
	require.NoError(t, err)
	defer bc.Close()
	assert.Equal(t, "Dockerfile", bc.Dockerfile)
	raw, files, hdrs := readTar(t, bc)
	require.NoError(t, bc.Close())

	assert.NotContains(t, string(raw), secret, "an ignored file's content left the machine")
	var names []string
	for _, h := range hdrs {
		names = append(names, strings.TrimSuffix(h.Name, "/"))
		assert.Zero(t, h.Uid, h.Name)
		assert.Zero(t, h.Gid, h.Name)
	}
	assert.ElementsMatch(t, []string{
		".dockerignore", "Dockerfile", "app", "app/main.go", "app/config", "app/config/app.yaml", "certs",
	}, names)
	assert.Equal(t, "package main", files["app/main.go"])
	assert.Equal(t, testDockerfile, files["Dockerfile"])
}

// TestContextTarMatchesKey checks, for several ignore files, that the
// archive holds exactly the paths the key covers, with the same types and
// modes: what is hashed is what is sent.
func TestContextTarMatchesKey(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"a.txt":              "a",
		"a.log":              "l",
		"b/c.txt":            "c",
		"b/d/e.txt":          "e",
		"b/d/f.log":          "f",
		"b/g/h.txt":          "h",
		"docs/README.md":     "r",
		"docs/x.md":          "x",
		"node_modules/m/i.j": "j",
		"Dockerfile.dev":     "FROM busybox\n",
	}
	ignores := []string{
		"",
		"*.log\n",
		"**/*.log\n",
		"b\n!b/d/e.txt\n",
		"b/*\n!b/g\n",
		"*\n!docs\n",
		"*\n!docs/README.md\n!b/d\n",
		"**\n!a.txt\n",
		"node_modules\ndocs/*.md\n!docs/README.md\n.dockerignore\nDockerfile\n",
		"/b/d/../g\n./a.txt\n",
		"*/d\n",
		"**/*.txt\n!**/e.txt\n",
	}
	for _, ig := range ignores {
		t.Run(strings.ReplaceAll(ig, "\n", ";"), func(t *testing.T) {
			t.Parallel()
			fs := map[string]string{".dockerignore": ig}
			for k, v := range files {
				fs[k] = v
			}
			dir := newContext(t, fs)
			require.NoError(t, os.Symlink("a.txt", filepath.Join(dir, "b", "link")))
			require.NoError(t, os.Chmod(filepath.Join(dir, "b/c.txt"), 0o600))
			in := Input{ContextDir: dir}

			r, err := in.resolve()
			require.NoError(t, err)
			entries, err := collect(context.Background(), r)
			require.NoError(t, err)
			want := map[string]os.FileMode{}
			for _, e := range entries {
				want[e.rel] = e.mode
			}

			bc, err := ContextTar(context.Background(), in)
			require.NoError(t, err)
			_, _, hdrs := readTar(t, bc)
			require.NoError(t, bc.Close())
			got := map[string]os.FileMode{}
			for _, h := range hdrs {
				got[strings.TrimSuffix(h.Name, "/")] = h.FileInfo().Mode()
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestContextTarAlwaysSendsDockerfileAndIgnoreFile(t *testing.T) {
	t.Parallel()
	dir := newContext(t, map[string]string{".dockerignore": "*\n", "a.txt": "a", "sub/Dockerfile.x": "FROM alpine\n"})
	bc, err := ContextTar(context.Background(), Input{ContextDir: dir, Dockerfile: "sub/Dockerfile.x"})
	require.NoError(t, err)
	assert.Equal(t, "sub/Dockerfile.x", bc.Dockerfile)
	_, files, _ := readTar(t, bc)
	require.NoError(t, bc.Close())
	assert.Equal(t, map[string]string{".dockerignore": "*\n", "sub/Dockerfile.x": "FROM alpine\n"}, files)
}

func TestContextTarDockerfileOutsideContext(t *testing.T) {
	t.Parallel()
	const df = "FROM busybox:latest\nCOPY a.txt /\n"
	ext := writeFile(t, t.TempDir(), "ci/test.Dockerfile", df)
	for _, ignore := range []string{"", "*.log\n"} {
		files := map[string]string{"a.txt": "a"}
		if ignore != "" {
			files[".dockerignore"] = ignore
		}
		dir := newContext(t, files)
		require.NoError(t, os.Remove(filepath.Join(dir, "Dockerfile")))
		bc, err := ContextTar(context.Background(), Input{ContextDir: dir, Dockerfile: ext})
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(bc.Dockerfile, ".dockerfile."), bc.Dockerfile)
		_, got, _ := readTar(t, bc)
		require.NoError(t, bc.Close())
		assert.Equal(t, df, got[bc.Dockerfile])
		assert.Equal(t, "a", got["a.txt"])
		// The engine must drop the generated file from the context.
		if ignore == "" {
			assert.Equal(t, ".dockerignore\n"+bc.Dockerfile+"\n", got[".dockerignore"])
		} else {
			assert.Equal(t, ignore+"\n"+bc.Dockerfile+"\n", got[".dockerignore"])
		}
		assert.Len(t, got, 3)

		// The name is stable for the same content.
		bc2, err := ContextTar(context.Background(), Input{ContextDir: dir, Dockerfile: ext})
		require.NoError(t, err)
		assert.Equal(t, bc.Dockerfile, bc2.Dockerfile)
		require.NoError(t, bc2.Close())
	}
}

func TestContextTarErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := ContextTar(ctx, Input{ContextDir: missing})
	assert.ErrorIs(t, err, ErrNoContext)
	assert.ErrorContains(t, err, missing)

	dir := newContext(t, nil)
	_, err = ContextTar(ctx, Input{ContextDir: dir, Dockerfile: missing})
	assert.ErrorIs(t, err, ErrNoDockerfile)
	assert.ErrorContains(t, err, missing)
}

func TestContextTarUnreadableFile(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	dir := newContext(t, map[string]string{"locked.txt": "x"})
	p := filepath.Join(dir, "locked.txt")
	require.NoError(t, os.Chmod(p, 0))
	_, err := ContextTar(context.Background(), Input{ContextDir: dir})
	assert.ErrorIs(t, err, os.ErrPermission)
	assert.ErrorContains(t, err, p)
}

func TestContextTarCanceled(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	for i := range 20 {
		files[filepath.Join("d", strings.Repeat("x", i+1))] = strings.Repeat("y", 64<<10)
	}
	dir := newContext(t, files)
	ctx, cancel := context.WithCancel(context.Background())
	bc, err := ContextTar(ctx, Input{ContextDir: dir})
	require.NoError(t, err)
	buf := make([]byte, 1024)
	_, err = io.ReadFull(bc, buf)
	require.NoError(t, err)
	cancel()
	_, err = io.Copy(io.Discard, bc)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, bc.Close())
}

func TestContextTarDockerfileSpecificIgnoreFile(t *testing.T) {
	t.Parallel()
	const secret = "TOP-SECRET-c0ffee"
	dir := newContext(t, map[string]string{
		".dockerignore":                   "build.log\n",
		"build.log":                       "log",
		"app/app.Dockerfile":              testDockerfile,
		"app/app.Dockerfile.dockerignore": "secret.txt\napp/*.dockerignore\n",
		"secret.txt":                      secret,
		"web.Dockerfile":                  testDockerfile,
		"main.go":                         "package main",
	})
	names := func(in Input) []string {
		t.Helper()
		bc, err := ContextTar(context.Background(), in)
		require.NoError(t, err)
		raw, _, hdrs := readTar(t, bc)
		require.NoError(t, bc.Close())
		if in.Dockerfile == "app/app.Dockerfile" {
			assert.NotContains(t, string(raw), secret, "a file its Dockerfile's ignore file excludes left the machine")
		}
		var got []string
		for _, h := range hdrs {
			got = append(got, strings.TrimSuffix(h.Name, "/"))
		}
		// The key covers exactly what is sent.
		assert.ElementsMatch(t, collectPaths(t, in), got)
		return got
	}

	// The ignore file named after the Dockerfile, next to it, replaces
	// the context's .dockerignore (as in BuildKit): build.log is sent,
	// secret.txt is not.
	assert.ElementsMatch(t, []string{
		".dockerignore", "Dockerfile", "build.log", "app", "app/app.Dockerfile", "main.go", "web.Dockerfile",
	}, names(Input{ContextDir: dir, Dockerfile: "app/app.Dockerfile"}))
	// A Dockerfile without one uses the context's .dockerignore.
	assert.ElementsMatch(t, []string{
		".dockerignore", "Dockerfile", "app", "app/app.Dockerfile", "app/app.Dockerfile.dockerignore",
		"secret.txt", "main.go", "web.Dockerfile",
	}, names(Input{ContextDir: dir, Dockerfile: "web.Dockerfile"}))
}

// TestSnapshotContextStopsOnChange changes the context between the key and the
// archive in every way that changes the image: each must stop the archive before its
// end with ErrContextChanged naming the path, so that the engine never builds an
// archive under a key that does not describe it.
func TestSnapshotContextStopsOnChange(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"app.txt":     "v1",
		"lib/a.txt":   "a",
		"lib/old.txt": "old",
		"run.sh":      "#!/bin/sh\n",
	}
	cases := []struct {
		name string
		path string // the path the error names
		edit func(t *testing.T, dir string)
	}{
		{"content, same size", "app.txt", func(t *testing.T, dir string) { writeFile(t, dir, "app.txt", "v2") }},
		{"content, other size", "app.txt", func(t *testing.T, dir string) { writeFile(t, dir, "app.txt", "version 2") }},
		{"mode", "run.sh", func(t *testing.T, dir string) {
			require.NoError(t, os.Chmod(filepath.Join(dir, "run.sh"), 0o755))
		}},
		{"new file", "lib/new.txt", func(t *testing.T, dir string) { writeFile(t, dir, "lib/new.txt", "") }},
		{"removed file", "lib/old.txt", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "lib/old.txt")))
		}},
		{"symlink target", "link", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "link")
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Symlink("lib/a.txt", p))
		}},
		{"file became a directory", "app.txt", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "app.txt")))
			require.NoError(t, os.Mkdir(filepath.Join(dir, "app.txt"), 0o755))
		}},
		{"Dockerfile", "Dockerfile", func(t *testing.T, dir string) {
			writeFile(t, dir, "Dockerfile", testDockerfile+"RUN true\n")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := newContext(t, files)
			require.NoError(t, os.Symlink("app.txt", filepath.Join(dir, "link")))
			snap, err := Prepare(context.Background(), Input{ContextDir: dir}, baseIDs, nil)
			require.NoError(t, err)
			tc.edit(t, dir)

			bc, err := snap.Context(context.Background())
			if err != nil {
				// Found before the archive started.
				require.ErrorIs(t, err, ErrContextChanged)
				assert.ErrorContains(t, err, filepath.Join(dir, filepath.FromSlash(tc.path)))
				return
			}
			raw, err := io.ReadAll(bc)
			require.NoError(t, bc.Close())
			require.ErrorIs(t, err, ErrContextChanged)
			assert.ErrorContains(t, err, filepath.Join(dir, filepath.FromSlash(tc.path)))
			assert.ErrorIs(t, bc.Err(), ErrContextChanged)
			// What was streamed is no complete archive.
			tr := tar.NewReader(bytes.NewReader(raw))
			for {
				_, err = tr.Next()
				if err != nil {
					break
				}
				if _, err = io.Copy(io.Discard, tr); err != nil {
					break
				}
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				// A cut at an entry boundary reads as a clean end to archive/tar, but
				// the end-of-archive blocks are missing.
				assert.False(t, bytes.HasSuffix(raw, make([]byte, 1024)), "the archive was finished")
			}

			// Built again, the key covers the new content and the archive is whole.
			snap, err = Prepare(context.Background(), Input{ContextDir: dir}, baseIDs, nil)
			require.NoError(t, err)
			bc, err = snap.Context(context.Background())
			require.NoError(t, err)
			_, _, _ = readTar(t, bc)
			require.NoError(t, bc.Close())
			assert.NoError(t, bc.Err())
		})
	}
}

// TestSnapshotContextUnchanged checks that the checked archive of an unchanged
// context is the archive ContextTar makes, hard links included.
func TestSnapshotContextUnchanged(t *testing.T) {
	t.Parallel()
	dir := newContext(t, map[string]string{".dockerignore": "*.log\n", "a.txt": "a", "b/c.txt": "c", "x.log": "x"})
	require.NoError(t, os.Link(filepath.Join(dir, "a.txt"), filepath.Join(dir, "b/hard.txt")))
	require.NoError(t, os.Symlink("a.txt", filepath.Join(dir, "link")))
	in := Input{ContextDir: dir}
	snap, err := Prepare(context.Background(), in, baseIDs, nil)
	require.NoError(t, err)
	bc, err := snap.Context(context.Background())
	require.NoError(t, err)
	_, got, gotHdrs := readTar(t, bc)
	require.NoError(t, bc.Close())
	require.NoError(t, bc.Err())

	plain, err := ContextTar(context.Background(), in)
	require.NoError(t, err)
	_, want, wantHdrs := readTar(t, plain)
	require.NoError(t, plain.Close())
	assert.Equal(t, want, got)
	require.Len(t, gotHdrs, len(wantHdrs))
	for i := range wantHdrs {
		assert.Equal(t, wantHdrs[i].Name, gotHdrs[i].Name)
		assert.Equal(t, wantHdrs[i].Typeflag, gotHdrs[i].Typeflag, wantHdrs[i].Name)
		assert.Equal(t, wantHdrs[i].Mode, gotHdrs[i].Mode, wantHdrs[i].Name)
	}
}

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm64/v8", "Linux/x86_64", "linux", "windows/amd64"} {
		_, err := ParsePlatform(ok)
		assert.NoError(t, err, ok)
	}
	bad := map[string]string{
		"bogus":          "bogus",
		"linux/bogus":    `unknown architecture "bogus"`,
		"bogus/amd64":    `unknown operating system "bogus"`,
		"linux/amd64/v9": `unknown variant "v9" of amd64`,
		"linux/386/v2":   `unknown variant "v2" of 386`,
		"a/b/c/d":        "a/b/c/d",
		"":               `""`,
	}
	for p, want := range bad {
		_, err := ParsePlatform(p)
		assert.ErrorIs(t, err, ErrInvalidPlatform, p)
		assert.ErrorContains(t, err, want, p)
	}
	// The key's platform args reject it too.
	_, err := ParseDockerfile([]byte("FROM scratch\n"), nil, "", "linux/bogus")
	assert.ErrorIs(t, err, ErrInvalidPlatform)
}
