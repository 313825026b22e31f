package reliability

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/buildcache"
)

// FuzzEnv: Spec.Env refuses exactly the keys the engine cannot take (empty, with "="
// or NUL), with an error that wraps ErrInvalidSpec and quotes the key, and never
// panics.
func FuzzEnv(f *testing.F) {
	for _, k := range []string{"PATH", "", "A=B", "A\x00", "ÜBER", " X", "_"} {
		f.Add(k, "v")
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		err := containers.Image(busybox).Env(key, value).Err()
		bad := key == "" || strings.ContainsAny(key, "=\x00")
		switch {
		case bad && err == nil:
			t.Fatalf("Env(%q) accepted", key)
		case !bad && err != nil:
			t.Fatalf("Env(%q) refused: %v", key, err)
		case err != nil:
			if !errors.Is(err, containers.ErrInvalidSpec) {
				t.Fatalf("Env(%q): %v does not wrap ErrInvalidSpec", key, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(key)) {
				t.Fatalf("Env(%q): %v does not quote the key", key, err)
			}
		}
	})
}

// FuzzExposePort: Spec.Expose either accepts a port or refuses it with an error that
// wraps ErrInvalidSpec and quotes it; what it accepts is a number from 1 to 65535 with
// an optional protocol the engine knows.
func FuzzExposePort(f *testing.F) {
	for _, p := range []string{"80", "80/tcp", "53/udp", "9000/sctp", "0", "65536", "-1", "80/", "/tcp", "80/TCP", " 80 ", "+80", "080", "1e3", "80/tcp/x"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := containers.Image(busybox).Expose(p).Err()
		num, proto, hasProto := strings.Cut(strings.TrimSpace(p), "/")
		n, nerr := strconv.Atoi(num)
		okNum := nerr == nil && n >= 1 && n <= 65535
		okProto := !hasProto || map[string]bool{"tcp": true, "udp": true, "sctp": true}[strings.ToLower(proto)]
		want := okNum && okProto
		if want != (err == nil) {
			t.Fatalf("Expose(%q): err %v, want accepted=%v", p, err, want)
		}
		if err != nil {
			if !errors.Is(err, containers.ErrInvalidSpec) {
				t.Fatalf("Expose(%q): %v does not wrap ErrInvalidSpec", p, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(p)) {
				t.Fatalf("Expose(%q): %v does not quote the port", p, err)
			}
		}
	})
}

// fuzzContext writes a build context from fuzz input: a Dockerfile, a .dockerignore
// and files whose names come from names (one a line, cleaned to stay inside dir).
func fuzzContext(t *testing.T, dir, dockerfile, ignore, names string) []string {
	t.Helper()
	write := func(rel, content string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Skip() // a name that is also a file's directory: not a context one can make
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Skip()
		}
	}
	write("Dockerfile", dockerfile)
	write(".dockerignore", ignore)
	var files []string
	for i, n := range strings.Split(names, "\n") {
		n = strings.Trim(filepath.ToSlash(filepath.Clean("/"+n)), "/")
		if n == "" || n == "." || n == "Dockerfile" || n == ".dockerignore" || strings.ContainsAny(n, "\x00\\") || len(n) > 100 {
			continue
		}
		if i > 20 {
			break
		}
		write(n, "content of "+n)
		files = append(files, n)
	}
	return files
}

// FuzzBuildContext: for any Dockerfile, .dockerignore and set of files, the build key
// equals the key of the same context made afresh in another directory, and the
// context's tar holds no file that .dockerignore excludes.
func FuzzBuildContext(f *testing.F) {
	f.Add("FROM busybox:latest\nCOPY . /\n", "secret.txt\n", "app.go\nsecret.txt\nsub/a")
	f.Add("FROM busybox:latest AS a\nFROM a\n", "**/*.key\n!keep.key\n", "x.key\nkeep.key\nd/y.key")
	f.Add("FROM scratch\n", "*\n!Dockerfile\n", "a\nb/c")
	f.Add("FROM busybox:latest\nARG X=1\n", "sub\n", "sub/x\nsubx")
	f.Fuzz(func(t *testing.T, dockerfile, ignore, names string) {
		ctx := context.Background()
		a, b := t.TempDir(), t.TempDir()
		files := fuzzContext(t, a, dockerfile, ignore, names)
		fuzzContext(t, b, dockerfile, ignore, names)
		df, err := buildcache.ReadDockerfile(buildcache.Input{ContextDir: a})
		if err != nil {
			return // an invalid Dockerfile is refused before any key: fine
		}
		ids := map[string]string{}
		for i, ref := range df.BaseImages {
			ids[ref] = fmt.Sprintf("sha256:%064d", i)
		}
		ka, errA := buildcache.Key(ctx, buildcache.Input{ContextDir: a}, ids, nil)
		kb, errB := buildcache.Key(ctx, buildcache.Input{ContextDir: b}, ids, nil)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("same context, different outcomes: %v / %v", errA, errB)
		}
		if errA != nil {
			return
		}
		if ka != kb {
			t.Fatalf("same context, different keys: %s / %s", ka, kb)
		}
		// The key is stable: asked again, it is the same.
		if again, err := buildcache.Key(ctx, buildcache.Input{ContextDir: a}, ids, nil); err != nil || again != ka {
			t.Fatalf("key asked again: %s, %v; first %s", again, err, ka)
		}
		patterns, err := ignorefile.ReadAll(strings.NewReader(ignore))
		if err != nil {
			return
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return
		}
		inTar := tarNames(t, ctx, a)
		for _, f := range files {
			excluded, err := pm.MatchesOrParentMatches(f)
			if err != nil {
				return
			}
			if excluded && inTar[f] {
				t.Fatalf("%s is excluded by .dockerignore %q but is in the context tar", f, ignore)
			}
		}
	})
}

// tarNames lists the regular files in the context tar of dir.
func tarNames(t *testing.T, ctx context.Context, dir string) map[string]bool {
	t.Helper()
	bc, err := buildcache.ContextTar(ctx, buildcache.Input{ContextDir: dir})
	if err != nil {
		t.Fatalf("context tar: %v", err)
	}
	defer bc.Close()
	names := map[string]bool{}
	tr := tar.NewReader(bc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("read context tar: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			names[strings.TrimPrefix(h.Name, "./")] = true
		}
	}
}
