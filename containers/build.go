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
	secrets    map[string]secretSource
	tags       []string  // BuildTag
	output     io.Writer // BuildOutput
	tarName    string    // BuildTar: the context is tarData, unpacked for each build
	tarData    []byte
}

// Build returns a Spec for a container of the image built from the Dockerfile in
// contextDir. The image is cached by content: the Dockerfile, the context files that
// survive .dockerignore, build args, target, platform, build labels and the ids of the
// base images. When an image with that key exists, nothing is sent to the engine; what
// is sent is checked against the key as it streams, and a file changed in between
// fails the build with buildcache.ErrContextChanged (build again). Concurrent builds
// of one key, in this process or in others, build once. Built images stay after the
// test; each build evicts cached images that were superseded, whose context is gone,
// or beyond CONTAINERTEST_BUILD_CACHE_MAX (see the README), and PruneBuildCache
// removes old ones. Files that .dockerignore excludes never
// leave the machine. As with BuildKit, an ignore file named after the Dockerfile and
// next to it (app.Dockerfile.dockerignore for app.Dockerfile) replaces the context's
// .dockerignore for that build.
//
// A relative contextDir is resolved against the working directory when Build is called.
func Build(contextDir string) Spec {
	if strings.TrimSpace(contextDir) == "" {
		return Spec{build: &buildSpec{contextDir: contextDir}}.fail(errors.New("build: empty context directory"))
	}
	dir, err := absPath(contextDir)
	if err != nil {
		return Spec{build: &buildSpec{contextDir: contextDir}}.fail(fmt.Errorf("build: %w", err))
	}
	return Spec{build: &buildSpec{contextDir: dir}}
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
	b.secrets = maps.Clone(b.secrets)
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
// unset). For an Image spec it is the platform the image must be of: the local image
// is checked against what the engine reports for it (ErrPlatformMismatch), and a
// missing one (or any, with PullAlways) is pulled for that platform. A platform that
// does not parse or names an unknown operating system, architecture or variant makes
// the spec fail at once (buildcache.ErrInvalidPlatform).
func (s Spec) Platform(platform string) Spec {
	if _, err := buildcache.ParsePlatform(platform); err != nil {
		if s.build == nil {
			return s.fail(fmt.Errorf("platform: %w", err))
		}
		return s.fail(fmt.Errorf("build: %w", err))
	}
	if s.build == nil {
		s.platform = platform
		return s
	}
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

// BuildSecret makes value available to the build as the secret id, for
// RUN --mount=type=secret,id=id (at /run/secrets/id in that step). Build secrets need
// BuildKit. A secret reaches only the RUN steps that mount it: not an image layer, the
// image history, a label or the build output in the test log (values are redacted
// there). The cache key holds the secret's id and where its value comes from, never
// the value: a new value of the same secret reuses the cached image (use NoCache, or
// another id, to build with it).
func (s Spec) BuildSecret(id, value string) Spec {
	return s.buildSecret("build secret", id, secretSource{kind: "value", value: value})
}

// BuildSecretFile is BuildSecret with the value read from the file path when the
// image is built. The key holds the path, not the content.
func (s Spec) BuildSecretFile(id, path string) Spec {
	if path == "" {
		return s.fail(fmt.Errorf("build secret file %q: empty path", id))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return s.fail(fmt.Errorf("build secret file %q: %w", id, err))
	}
	return s.buildSecret("build secret file", id, secretSource{kind: "file", name: abs})
}

// BuildSecretEnv is BuildSecret with the value of the environment variable name when
// the image is built; an unset variable fails the build. The key holds the name, not
// the value.
func (s Spec) BuildSecretEnv(id, name string) Spec {
	if name == "" {
		return s.fail(fmt.Errorf("build secret env %q: empty variable name", id))
	}
	return s.buildSecret("build secret env", id, secretSource{kind: "env", name: name})
}

func (s Spec) buildSecret(method, id string, src secretSource) Spec {
	if id == "" || strings.ContainsAny(id, ", \t\n=") {
		return s.fail(fmt.Errorf("%s: invalid id %q (want a name without commas, spaces or '=')", method, id))
	}
	return s.withBuild(method, func(b *buildSpec) {
		if b.secrets == nil {
			b.secrets = map[string]secretSource{}
		}
		b.secrets[id] = src
	})
}

func (b *buildSpec) input() buildcache.Input {
	return buildcache.Input{
		ContextDir: b.contextDir,
		Dockerfile: b.dockerfile,
		BuildArgs:  b.args,
		Target:     b.target,
		Platform:   b.platform,
		Labels:     b.labels,
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

type buildWaiter struct {
	t testing.TB
	w io.Writer // BuildOutput, or nil
}

func (l *buildLogs) join(key string, t testing.TB, out io.Writer) *buildWaiter {
	w := &buildWaiter{t: t, w: out}
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
		if w.w != nil {
			_, _ = fmt.Fprintf(w.w, strings.TrimSuffix(format, "\n")+"\n", args...)
		}
	}
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

// image returns the cached image for the build, building it when it is missing, and
// gives it the BuildTag names.
func (b *buildSpec) image(ctx context.Context, eng *engine.Engine, t testing.TB) (string, error) {
	if b.tarData != nil {
		dir, cleanup, err := b.unpackTar()
		if err != nil {
			return "", err
		}
		defer cleanup()
		unpacked := *b
		unpacked.contextDir = dir
		b = &unpacked
	}
	tag, err := b.cachedImage(ctx, eng, t)
	if err != nil {
		return "", err
	}
	for _, ref := range b.tags {
		if err := eng.Client.ImageTag(ctx, tag, ref); err != nil {
			return "", fmt.Errorf("build %s: tag %s as %s: %w", b.name(), tag, ref, err)
		}
	}
	return tag, nil
}

// name is how errors name the build: its context directory, or its BuildTar name.
func (b *buildSpec) name() string {
	if b.tarName != "" {
		return "tar " + b.tarName
	}
	return b.contextDir
}

// cachedImage returns the cached image for the build, building it when it is missing.
func (b *buildSpec) cachedImage(ctx context.Context, eng *engine.Engine, t testing.TB) (string, error) {
	if _, err := buildCacheMax(); err != nil {
		return "", fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	in := b.input()
	df, err := buildcache.ReadDockerfile(in)
	if err != nil {
		// A missing context or Dockerfile, a Dockerfile that does not parse, an unknown
		// target: the build's input is wrong, found before anything reaches the engine.
		return "", fmt.Errorf("build %s: %w: %w", b.contextDir, ErrInvalidSpec, err)
	}
	bc, err := chooseBuilder(ctx, eng)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	if bc.name == builderBuildKit && df.OutsideContext {
		// BuildKit reads the Dockerfile from the uploaded context, where COPY . would
		// see it; the classic builder drops it by the archive's .dockerignore.
		if len(df.Features) > 0 || len(b.secrets) > 0 {
			return "", fmt.Errorf("build %s: %w: %s lies outside the context, which only the classic builder can build "+
				"without adding the Dockerfile to the context, and it needs BuildKit; move it into the context directory",
				b.contextDir, ErrUnsupportedSyntax, df.Path)
		}
		bc.name, bc.why = builderClassic, "the Dockerfile lies outside the context"
	}
	if err := b.checkSyntax(ctx, eng, df, bc); err != nil {
		return "", fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	secrets, err := b.readSecrets()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	in.Builder = bc.name
	if len(b.secrets) > 0 {
		in.Secrets = make(map[string]string, len(b.secrets))
		for id, src := range b.secrets {
			in.Secrets[id] = src.identity()
		}
	}
	ids := make(map[string]string, len(df.BaseImages))
	for _, ref := range df.BaseImages {
		id, err := baseImageID(ctx, eng, ref)
		if err != nil {
			return "", fmt.Errorf("build %s: base image %s (FROM in %s): %w", b.contextDir, ref, df.Path, err)
		}
		ids[ref] = id
	}
	var m *buildcache.Memo
	if b.tarData == nil { // an unpacked archive is hashed anew each time
		m = contextMemo(b.contextDir)
	}
	snap, err := buildcache.Prepare(ctx, in, ids, m)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	key := snap.Key
	if m != nil {
		_ = m.Save()
	}
	tag := cacheTag(b.contextDir, key)
	if !b.noCache {
		if ok, err := cachedImage(ctx, eng, tag, key); err != nil {
			return "", err
		} else if ok {
			_ = buildcache.Touch(key)
			if testHookImage != nil {
				testHookImage(ctx, eng, b.contextDir, tag)
			}
			if b.output != nil {
				fmt.Fprintf(b.output, "containers: build %s: cached as %s\n", filepath.Base(b.contextDir), tag)
			}
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
	log := progress.join(sfKey, t, b.output)
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
		logf := func(format string, args ...any) { progress.logf(sfKey, format, args...) }
		if err := b.run(bctx, eng, logf, snap, tag, bc.name, secrets); err != nil {
			return nil, err
		}
		ectx, ecancel := context.WithTimeout(bctx, time.Minute)
		defer ecancel()
		if err := evictBuildCache(ectx, eng, key, logf); err != nil {
			logf("containers: build cache: %v", err)
		}
		return nil, nil
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
	if testHookImage != nil {
		testHookImage(ctx, eng, b.contextDir, tag)
	}
	return tag, nil
}

// testHookImage, when a test sets it, learns the image each Build of contextDir
// returns, so that the project's tests can remove exactly the images they built.
var testHookImage func(ctx context.Context, eng *engine.Engine, contextDir, tag string)

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
		return "", missingImageError(ref, perr)
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
// The archive is checked against the key as it streams: a file changed since the key
// was computed stops the build (buildcache.ErrContextChanged), so no image is ever
// labelled with a key that does not describe it.
func (b *buildSpec) run(ctx context.Context, eng *engine.Engine, logf func(string, ...any), snap *buildcache.Snapshot, tag, builder string, secrets map[string][]byte) error {
	buildsRun.Add(1)
	key := snap.Key
	if testHookBeforeSend != nil {
		testHookBeforeSend()
	}
	bc, err := snap.Context(ctx)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	defer bc.Close()
	labels := maps.Clone(b.labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[labelBuildKey] = key
	maps.Copy(labels, b.sourceLabels())
	if builder == builderBuildKit {
		err = b.sendBuildKit(ctx, eng, logf, bc, labels, tag, secrets)
	} else {
		err = b.send(ctx, eng, logf, bc, labels, tag)
	}
	if cerr := bc.Err(); cerr != nil {
		// The engine saw an archive cut short; its error says less.
		return fmt.Errorf("build %s: %w", b.contextDir, cerr)
	}
	if err != nil {
		return err
	}
	// A build stream that ends cleanly between two messages (the connection to the
	// engine cut at the wrong moment) reads like a finished build: only the image
	// proves it.
	if ok, err := cachedImage(ctx, eng, tag, key); err != nil {
		return fmt.Errorf("build %s: check the built image: %w", b.contextDir, err)
	} else if !ok {
		return fmt.Errorf("build %s: %w: the docker engine ended the build without the image %s", b.contextDir, ErrBuildFailed, tag)
	}
	return nil
}

// testHookBeforeSend, when set by a test, runs between the key and the archive.
var testHookBeforeSend func()

// send builds bc through the engine's classic builder as tag, with labels (the
// classic builder adds them as one build step).
func (b *buildSpec) send(ctx context.Context, eng *engine.Engine, logf func(string, ...any), bc *buildcache.BuildContext, labels map[string]string, tag string) error {
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
		return fmt.Errorf("build %s: send the build to the docker engine: %w", b.contextDir, err)
	}
	defer resp.Body.Close()
	return readBuildOutput(resp.Body, b.contextDir, logf)
}

// ansiEscape matches the terminal colour codes that the engine puts around the
// standard error of a build step; they are noise in a log or an error message.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// A buildMessage is one JSON message of the engine's build stream, from either builder:
// a line of output, an error, or (BuildKit) a status record in Aux.
type buildMessage struct {
	ID          string          `json:"id"`
	Aux         json.RawMessage `json:"aux"`
	Stream      string          `json:"stream"`
	Error       string          `json:"error"`
	ErrorDetail struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// nextBuildMessage reads the next message of a build stream; nil, nil at its end.
func nextBuildMessage(dec *json.Decoder, dir string) (*buildMessage, error) {
	var msg buildMessage
	if err := dec.Decode(&msg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("build %s: read build output from the docker engine: %w", dir, err)
	}
	return &msg, nil
}

// readBuildOutput follows the engine's JSON build stream: each step goes to the test
// log as it happens, the whole output is kept for the error.
func readBuildOutput(r io.Reader, dir string, logf func(string, ...any)) error {
	var out strings.Builder
	var step string
	dec := json.NewDecoder(r)
	for {
		msg, err := nextBuildMessage(dec, dir)
		if err != nil || msg == nil {
			return err
		}
		if msg.Stream != "" {
			stream := ansiEscape.ReplaceAllString(msg.Stream, "")
			out.WriteString(stream)
			for _, line := range strings.Split(stream, "\n") {
				if st, ok := buildStep(line); ok {
					step = st
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

// buildStep reads a builder's step line as "step 3/7: RUN make": Docker's classic
// builder writes "Step 3/7 : RUN make", podman's (buildah) "STEP 3/7: RUN make".
func buildStep(line string) (string, bool) {
	var n, instr string
	var ok bool
	if after, found := strings.CutPrefix(line, "Step "); found {
		n, instr, ok = strings.Cut(after, " : ")
	} else if after, found := strings.CutPrefix(line, "STEP "); found {
		n, instr, ok = strings.Cut(after, ": ")
	}
	if !ok || !strings.Contains(n, "/") {
		return "", false
	}
	return "step " + n + ": " + instr, true
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
	all := cacheImages(imgs)
	for _, img := range all {
		if len(img.tags) == 0 {
			if !replacedImage(img, all) {
				continue // the last image of a build still running, say
			}
			if _, err := eng.Client.ImageRemove(ctx, img.id, image.RemoveOptions{PruneChildren: true}); err != nil {
				if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("remove replaced image %s: %w", shortID(img.id), err))
				}
				continue
			}
			removed = append(removed, img.id)
			continue
		}
		if img.lastUsed.After(cutoff) {
			continue
		}
		var gone []string
		for _, tag := range img.tags {
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
		_ = buildcache.Forget(img.key)
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
