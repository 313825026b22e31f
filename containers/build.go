package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
	"golang.org/x/sync/singleflight"

	"github.com/containertest/containertest/internal/buildcache"
	"github.com/containertest/containertest/internal/engine"
)

// Labels on cached build images. They carry no session: built images outlive tests.
const (
	labelBuildKey = engine.LabelPrefix + "build-key"
)

// ErrBuildFailed is wrapped when the engine fails to build an image; the error names
// the failing instruction and carries the tail of the build output.
var ErrBuildFailed = errors.New("image build failed")

// buildSpec describes a Dockerfile build. Spec methods copy it before changing it.
type buildSpec struct {
	contextDir string
	dockerfile string
	args       map[string]*string
	target     string
	platform   string
	noCache    bool
	labels     map[string]string
}

// Build returns a Spec for a container of the image built from the Dockerfile in
// contextDir. The image is cached by content: the Dockerfile, the context files that
// survive .dockerignore, build args, target, platform and the ids of the base images.
// When an image with that key exists, nothing is sent to the engine; concurrent builds
// of one key, in this process or in others, build once. Built images stay after the
// test (PruneBuildCache removes old ones). Files that .dockerignore excludes never
// leave the machine. As with BuildKit, an ignore file named after the Dockerfile and
// next to it (app.Dockerfile.dockerignore for app.Dockerfile) replaces the context's
// .dockerignore for that build.
func Build(contextDir string) Spec {
	s := Spec{build: &buildSpec{contextDir: contextDir}}
	if strings.TrimSpace(contextDir) == "" {
		s = s.fail(errors.New("build: empty context directory"))
	}
	return s
}

// withBuild returns s with a copy of its build description changed by f, or an error
// when s is not a Build spec.
func (s Spec) withBuild(method string, f func(b *buildSpec)) Spec {
	if s.build == nil {
		return s.fail(fmt.Errorf("%s: the spec is not a Build spec (use containers.Build)", method))
	}
	b := *s.build
	b.args = maps.Clone(b.args)
	b.labels = maps.Clone(b.labels)
	f(&b)
	s.build = &b
	return s
}

// Dockerfile sets the Dockerfile path, relative to the context directory or absolute
// (it may lie outside the context). The default is "Dockerfile" in the context.
func (s Spec) Dockerfile(path string) Spec {
	return s.withBuild("dockerfile", func(b *buildSpec) { b.dockerfile = path })
}

// BuildArg sets a build argument (ARG in the Dockerfile).
func (s Spec) BuildArg(key, value string) Spec {
	if key == "" {
		return s.fail(errors.New("build arg: empty name"))
	}
	return s.withBuild("build arg", func(b *buildSpec) {
		if b.args == nil {
			b.args = map[string]*string{}
		}
		b.args[key] = &value
	})
}

// Target builds the named stage of a multi-stage Dockerfile instead of the last one.
func (s Spec) Target(stage string) Spec {
	return s.withBuild("target", func(b *buildSpec) { b.target = stage })
}

// Platform builds for a platform such as "linux/arm64" (the engine's default when
// unset).
func (s Spec) Platform(platform string) Spec {
	return s.withBuild("platform", func(b *buildSpec) { b.platform = platform })
}

// NoCache rebuilds the image from scratch, ignoring both this package's cache and the
// engine's layer cache. The result replaces the cached image for the same inputs.
func (s Spec) NoCache() Spec {
	return s.withBuild("no cache", func(b *buildSpec) { b.noCache = true })
}

// BuildLabel sets a label on the built image.
func (s Spec) BuildLabel(key, value string) Spec {
	if err := engine.CheckLabel(key); err != nil {
		return s.fail(fmt.Errorf("build label: %w", err))
	}
	return s.withBuild("build label", func(b *buildSpec) {
		if b.labels == nil {
			b.labels = map[string]string{}
		}
		b.labels[key] = value
	})
}

func (b *buildSpec) input() buildcache.Input {
	return buildcache.Input{
		ContextDir: b.contextDir,
		Dockerfile: b.dockerfile,
		BuildArgs:  b.args,
		Target:     b.target,
		Platform:   b.platform,
	}
}

// buildTimeout bounds one build; the build no longer depends on its first caller's context.
const buildTimeout = 30 * time.Minute

// progress routes the step lines of a shared build to the tests waiting for it: the
// first of them that is still waiting gets them, so no line goes to a finished test.
var progress = &buildLogs{waiting: map[string][]*buildWaiter{}}

type buildLogs struct {
	mu      sync.Mutex
	waiting map[string][]*buildWaiter
}

type buildWaiter struct{ t testing.TB }

func (l *buildLogs) join(key string, t testing.TB) *buildWaiter {
	w := &buildWaiter{t: t}
	l.mu.Lock()
	l.waiting[key] = append(l.waiting[key], w)
	l.mu.Unlock()
	return w
}

func (l *buildLogs) leave(key string, w *buildWaiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.waiting[key]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(l.waiting, key)
	} else {
		l.waiting[key] = ws
	}
}

func (l *buildLogs) logf(key, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.waiting[key] {
		if w.t != nil {
			w.t.Logf(format, args...)
			return
		}
	}
}

var (
	builds singleflight.Group
	// buildsRun counts the builds this process sent to the engine (for tests).
	buildsRun atomic.Int64

	// memos holds the stat memo of each context directory, by memo file path (which
	// names both the cache dir and the context), loaded once per process.
	memos sync.Map // string -> *buildcache.Memo
)

// contextMemo returns the stat memo of the build context dir, or nil if it has none
// (the memo only saves re-reading files: without it every file is hashed). Each
// context has its own memo file, so processes building other contexts do not
// overwrite it, and a change of CONTAINERTEST_CACHE_DIR is honoured.
func contextMemo(dir string) *buildcache.Memo {
	p, err := buildcache.MemoPath(dir)
	if err != nil {
		return nil
	}
	if m, ok := memos.Load(p); ok {
		return m.(*buildcache.Memo)
	}
	m, _ := memos.LoadOrStore(p, buildcache.LoadMemo(p))
	return m.(*buildcache.Memo)
}

var tagUnsafe = regexp.MustCompile(`[^a-z0-9._-]+`)

// cacheTag names the cached image: containertest/<context dir name>:<key prefix>.
func cacheTag(contextDir, key string) string {
	abs, err := filepath.Abs(contextDir)
	if err != nil {
		abs = contextDir
	}
	name := strings.Trim(tagUnsafe.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-._")
	if name == "" {
		name = "build"
	}
	return "containertest/" + name + ":" + key[:16]
}

// image returns the cached image for the build, building it when it is missing.
func (b *buildSpec) image(ctx context.Context, eng *engine.Engine, t testing.TB) (string, error) {
	in := b.input()
	df, err := buildcache.ReadDockerfile(in)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	ids := make(map[string]string, len(df.BaseImages))
	for _, ref := range df.BaseImages {
		id, err := baseImageID(ctx, eng, ref)
		if err != nil {
			return "", fmt.Errorf("build %s: base image %s (FROM in %s): %w", b.contextDir, ref, df.Path, err)
		}
		ids[ref] = id
	}
	m := contextMemo(b.contextDir)
	key, err := buildcache.Key(ctx, in, ids, m)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	if m != nil {
		_ = m.Save()
	}
	tag := cacheTag(b.contextDir, key)
	if !b.noCache {
		if ok, err := cachedImage(ctx, eng, tag, key); err != nil {
			return "", err
		} else if ok {
			_ = buildcache.Touch(key)
			return tag, nil
		}
	}
	sfKey := key
	if b.noCache {
		sfKey += "/nocache"
	}
	// The build is shared by every caller waiting for the same key, so it must not
	// depend on the first caller: it runs on a context of its own and logs to whichever
	// test is still waiting. A caller that gives up leaves the build running for the
	// others (its result is cached for later callers anyway).
	log := progress.join(sfKey, t)
	defer progress.leave(sfKey, log)
	ch := builds.DoChan(sfKey, func() (any, error) {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
		defer cancel()
		unlock, err := buildcache.Lock(bctx, key)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if !b.noCache {
			// Another process may have built it while we waited for the lock.
			if ok, err := cachedImage(bctx, eng, tag, key); err != nil || ok {
				return nil, err
			}
		}
		return nil, b.run(bctx, eng, func(format string, args ...any) { progress.logf(sfKey, format, args...) }, in, key, tag)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
	case <-ctx.Done():
		return "", fmt.Errorf("build %s: %w", b.contextDir, ctx.Err())
	}
	_ = buildcache.Touch(key)
	return tag, nil
}

// baseImageID returns the id of a FROM image, pulling it when it is missing locally.
func baseImageID(ctx context.Context, eng *engine.Engine, ref string) (string, error) {
	ins, err := eng.Client.ImageInspect(ctx, ref)
	if err == nil {
		return ins.ID, nil
	}
	if !errdefs.IsNotFound(err) {
		return "", err
	}
	if perr := pullImage(ctx, eng, ref); perr != nil {
		return "", fmt.Errorf("image %s not found locally; pull failed: %v; build or load it first: %w", ref, perr, ErrImageNotFound)
	}
	ins, err = eng.Client.ImageInspect(ctx, ref)
	if err != nil {
		return "", err
	}
	return ins.ID, nil
}

// cachedImage reports whether tag exists and was built from key.
func cachedImage(ctx context.Context, eng *engine.Engine, tag, key string) (bool, error) {
	ins, err := eng.Client.ImageInspect(ctx, tag)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect cached image %s: %w", tag, err)
	}
	return ins.Config != nil && ins.Config.Labels[labelBuildKey] == key, nil
}

// run sends the context and builds, streaming progress to the test log.
func (b *buildSpec) run(ctx context.Context, eng *engine.Engine, logf func(string, ...any), in buildcache.Input, key, tag string) error {
	buildsRun.Add(1)
	bc, err := buildcache.ContextTar(ctx, in)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	defer bc.Close()
	labels := maps.Clone(b.labels)
	if labels == nil {
		labels = map[string]string{}
	}
	// One label only: the classic builder turns each label into a build step of its own.
	labels[labelBuildKey] = key
	resp, err := eng.Client.ImageBuild(ctx, bc, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  bc.Dockerfile,
		BuildArgs:   b.args,
		Target:      b.target,
		Platform:    b.platform,
		NoCache:     b.noCache,
		Remove:      true,
		ForceRemove: true, // no intermediate containers left behind, even on failure
		PullParent:  false,
		Labels:      labels,
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	defer resp.Body.Close()
	return readBuildOutput(resp.Body, b.contextDir, logf)
}

// ansiEscape matches the terminal colour codes that the engine puts around the
// standard error of a build step; they are noise in a log or an error message.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// readBuildOutput follows the engine's JSON build stream: each step goes to the test
// log as it happens, the whole output is kept for the error.
func readBuildOutput(r io.Reader, dir string, logf func(string, ...any)) error {
	var out strings.Builder
	var step string
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("build %s: read build output: %w", dir, err)
		}
		if msg.Stream != "" {
			stream := ansiEscape.ReplaceAllString(msg.Stream, "")
			out.WriteString(stream)
			for _, line := range strings.Split(stream, "\n") {
				if after, ok := strings.CutPrefix(line, "Step "); ok {
					// "Step 3/7 : RUN make" -> "step 3/7: RUN make"
					n, instr, _ := strings.Cut(after, " : ")
					step = "step " + n + ": " + instr
					logf("containers: build %s: %s", filepath.Base(dir), step)
				}
			}
		}
		if msg.Error != "" {
			failing := step
			if failing == "" {
				failing = "before the first step"
			}
			return fmt.Errorf("build %s: %w at %s: %s\nlast build output:\n\t%s", dir, ErrBuildFailed, failing,
				strings.TrimSpace(msg.Error), strings.ReplaceAll(tail(out.String(), 30), "\n", "\n\t"))
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// PruneBuildCache removes cached build images that no Build has used for olderThan,
// and returns their tags (or ids, for images a NoCache rebuild replaced, which are
// always removed). Images still used by a container are kept. The last use is recorded
// under the cache directory (CONTAINERTEST_CACHE_DIR); an image with no record there
// counts as last used when it was built.
func PruneBuildCache(ctx context.Context, olderThan time.Duration) ([]string, error) {
	eng, err := engine.Get(ctx)
	if err != nil {
		return nil, err
	}
	imgs, err := eng.Client.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelBuildKey))})
	if err != nil {
		return nil, fmt.Errorf("prune build cache: list images: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	var removed []string
	var errs []error
	for _, img := range imgs {
		key := img.Labels[labelBuildKey]
		if dangling(img.RepoTags) {
			// Replaced by a NoCache rebuild of the same key: no Build can reach it again.
			if _, err := eng.Client.ImageRemove(ctx, img.ID, image.RemoveOptions{PruneChildren: true}); err != nil {
				if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("remove replaced image %s: %w", shortID(img.ID), err))
				}
				continue
			}
			removed = append(removed, img.ID)
			continue
		}
		used, ok := buildcache.LastUsed(key)
		if !ok {
			used = time.Unix(img.Created, 0)
		}
		if used.After(cutoff) {
			continue
		}
		var gone []string
		for _, tag := range img.RepoTags {
			if !strings.HasPrefix(tag, "containertest/") {
				continue
			}
			if _, err := eng.Client.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}); err != nil {
				if !errdefs.IsConflict(err) { // a conflict means a container still uses it
					errs = append(errs, fmt.Errorf("remove %s: %w", tag, err))
				}
				continue
			}
			gone = append(gone, tag)
		}
		if len(gone) == 0 {
			continue
		}
		removed = append(removed, gone...)
		_ = buildcache.Forget(key)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("prune build cache: %w", err)
	}
	return removed, nil
}

// dangling reports whether an image has no tag left.
func dangling(tags []string) bool {
	for _, t := range tags {
		if t != "<none>:<none>" {
			return false
		}
	}
	return true
}
