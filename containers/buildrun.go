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

	"golang.org/x/sync/singleflight"

	"github.com/containertest/containertest/internal/buildcache"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/build"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
)

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
	ok, err := cachedImage(ctx, eng, tag, key)
	if err == nil && !ok {
		// The image may be there without its labels.
		var relabelled bool
		if relabelled, err = relabel(ctx, eng, logf, tag, labels); err == nil && relabelled {
			ok, err = cachedImage(ctx, eng, tag, key)
		}
	}
	if err != nil {
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
