// Package buildcache computes content-addressed cache keys for image builds
// and prepares the build context that is sent to the engine.
//
// The key covers everything that decides what a build produces: the
// Dockerfile, every context file that survives .dockerignore (path, type,
// mode, content, symlink target), the build args, the target stage, the
// platform and the image ids of the base images. It does not cover mtimes or
// the order in which the file system lists a directory, so it is stable
// across runs and machines. It also covers the image labels.
//
// The key covers exactly the bytes sent: Snapshot.Context archives the
// state the key was computed from and checks every entry as it streams
// (type, mode, size, symlink target, content hash); a file changed in
// between stops the archive before its end with ErrContextChanged.
//
// The package never talks to the engine. A caller does, roughly:
//
//	df, err := buildcache.ReadDockerfile(in)       // df.BaseImages
//	ids := ...                                      // ref -> image id, from the engine
//	path, err := buildcache.MemoPath(in.ContextDir)
//	memo := buildcache.LoadMemo(path)
//	snap, err := buildcache.Prepare(ctx, in, ids, memo) // snap.Key
//	_ = memo.Save()
//	// image labelled with snap.Key exists: buildcache.Touch(key), done.
//	unlock, err := buildcache.Lock(ctx, snap.Key)  // after an in-process singleflight
//	defer unlock()
//	// check for the image again, then:
//	bc, err := snap.Context(ctx)
//	// engine build with bc as the context and bc.Dockerfile as the Dockerfile;
//	// bc.Err() reports a context that changed under the build
//	buildcache.Touch(key)
//
// The context filter is the one the docker CLI applies: the patterns of
// <context>/.dockerignore, or, as BuildKit does, of <Dockerfile>.dockerignore
// where there is one next to the Dockerfile, read with moby/patternmatcher's
// ignorefile reader,
// with the Dockerfile and .dockerignore always sent, and the walk of
// moby/go-archive's TarWithOptions. Key and ContextTar use the same filter,
// so a file that does not count for the key is never sent.
package buildcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containertest/containertest/internal/cachedir"
)

// DefaultDockerfile is the Dockerfile name used when Input.Dockerfile is empty.
const DefaultDockerfile = "Dockerfile"

// ignoreFileName is the name of the ignore file in the context root.
const ignoreFileName = ".dockerignore"

// Sentinel errors; every error that matches one of them also names the path
// or line concerned.
var (
	// ErrNoContext means the context directory does not exist or is not a
	// directory.
	ErrNoContext = errors.New("build context directory not found")
	// ErrNoDockerfile means the Dockerfile does not exist.
	ErrNoDockerfile = errors.New("dockerfile not found")
	// ErrInvalidDockerfile means the Dockerfile cannot be parsed; the error
	// is a *DockerfileError that names the file and line.
	ErrInvalidDockerfile = errors.New("invalid dockerfile")
	// ErrUnknownTarget means Input.Target names no stage of the Dockerfile.
	ErrUnknownTarget = errors.New("target stage not found")
	// ErrMissingBaseImage means Key was not given an image id for a base
	// image the Dockerfile names.
	ErrMissingBaseImage = errors.New("no image id for base image")
	// ErrContextChanged means a context file or the Dockerfile changed
	// between the key and the archive that was sent: the archive would not
	// match its key, so the build is stopped. Building again uses the new
	// content.
	ErrContextChanged = errors.New("build context changed during the build")
	// ErrInvalidPlatform means a build platform cannot be parsed or names
	// an unknown operating system, architecture or variant.
	ErrInvalidPlatform = errors.New("invalid build platform")
)

// Input describes one build.
type Input struct {
	// ContextDir is the build context directory.
	ContextDir string
	// Dockerfile is the Dockerfile path, relative to ContextDir or absolute.
	// Empty means "Dockerfile" in ContextDir (or "dockerfile" if only that
	// exists, as the docker CLI does). It may lie outside ContextDir.
	Dockerfile string
	// BuildArgs are the build args, in the form of the engine API: a nil
	// value declares the arg without a value, so the ARG default applies.
	BuildArgs map[string]*string
	// Target is the stage to build; empty means the last stage.
	Target string
	// Platform is the target platform ("linux/arm64"); empty means the
	// engine's default.
	Platform string
	// Labels are the labels set on the built image.
	Labels map[string]string
	// Builder names the engine builder that makes the image ("buildkit",
	// "classic"): their images differ.
	Builder string
	// Secrets maps each build secret's id to its identity, never its
	// value: where the value comes from ("value", "env:NAME",
	// "file:/path"). A secret is meant to leave no trace in the image, so
	// a new value of the same secret does not make another key.
	Secrets map[string]string
}

// resolved is an Input whose paths have been checked and whose Dockerfile
// and .dockerignore have been read.
type resolved struct {
	contextDir string // absolute, symlinks evaluated
	dockerfile string // absolute, symlinks evaluated
	// relDockerfile is the slash-separated Dockerfile path inside the
	// context, or "" when the Dockerfile lies outside it.
	relDockerfile string
	content       []byte   // the Dockerfile
	excludes      []string // effective exclude patterns
}

// resolve checks the paths of in and reads its Dockerfile and ignore file,
// the way the docker CLI does for a local context directory.
func (in Input) resolve() (*resolved, error) {
	if in.ContextDir == "" {
		return nil, fmt.Errorf("resolve context: %w: no directory given", ErrNoContext)
	}
	dir, err := resolveContextDir(in.ContextDir)
	if err != nil {
		return nil, err
	}
	given, df, err := resolveDockerfile(dir, in.Dockerfile)
	if err != nil {
		return nil, err
	}
	content, err := os.ReadFile(df)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile %s: %w", df, err)
	}
	r := &resolved{contextDir: dir, dockerfile: df, content: content}
	if rel, err := filepath.Rel(dir, df); err == nil && filepath.IsLocal(rel) {
		r.relDockerfile = filepath.ToSlash(rel)
	}
	// As BuildKit does, an ignore file named after the Dockerfile and
	// next to it ("app.Dockerfile.dockerignore") takes precedence over the
	// context's .dockerignore.
	excludes, found, err := readIgnoreFile(given + ignoreFileName)
	if err == nil && !found {
		excludes, _, err = readIgnoreFile(filepath.Join(dir, ignoreFileName))
	}
	if err != nil {
		return nil, err
	}
	r.excludes = trimBuildFilesFromExcludes(excludes, r.relDockerfile)
	return r, nil
}

// resolveContextDir returns the absolute, symlink-free path of dir.
func resolveContextDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve context %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolve context %s: %w", abs, ErrNoContext)
		}
		return "", fmt.Errorf("resolve context %s: %w", abs, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("resolve context %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("resolve context %s: %w: not a directory", abs, ErrNoContext)
	}
	return real, nil
}

// resolveDockerfile returns the path of the Dockerfile named by name
// (relative to contextDir unless absolute), as given and absolute, and its
// absolute, symlink-free path.
func resolveDockerfile(contextDir, name string) (given, real string, err error) {
	p := name
	if p == "" {
		p = filepath.Join(contextDir, DefaultDockerfile)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			alt := filepath.Join(contextDir, strings.ToLower(DefaultDockerfile))
			if _, err := os.Lstat(alt); err == nil {
				p = alt
			}
		}
	} else if !filepath.IsAbs(p) {
		p = filepath.Join(contextDir, p)
	}
	real, err = filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("resolve Dockerfile %s: %w", p, ErrNoDockerfile)
		}
		return "", "", fmt.Errorf("resolve Dockerfile %s: %w", p, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", "", fmt.Errorf("resolve Dockerfile %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("resolve Dockerfile %s: %w: not a regular file", p, ErrNoDockerfile)
	}
	return p, real, nil
}

// CacheDir returns the directory that holds the memo, lock and last-used
// files: $CONTAINERTEST_CACHE_DIR if set, else containertest under the
// user cache directory, else a private directory under the temporary
// directory (see package cachedir). It does not create the directory.
func CacheDir() (string, error) { return cachedir.Dir() }
