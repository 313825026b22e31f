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
