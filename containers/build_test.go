package containers_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/buildcache"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/build"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/internal/testimages"
)

// Labels that Build puts on the images it caches.
const labelBuildKey = engine.LabelPrefix + "build-key"

// helperEnv names the context directory for TestHelperBuildProcess.
const helperEnv = "CONTAINERTEST_BUILD_HELPER_CONTEXT"

// stepLine matches a build step that Build logs: "step 2/3: RUN x" from the classic
// builder, "step [stage-0 2/3] RUN x: done in 0.2s" from BuildKit.
var stepLine = regexp.MustCompile(`step (\d+/\d+: |\[[^\]]*\d+/\d+\] )`)

// cacheEnv gives the test its own build cache directory (memo, locks, last-used
// records), which does not exist yet, as on a fresh machine. t.Setenv also rules out
// t.Parallel, so the BuildsRun deltas a test sees are its own builds.
func cacheEnv(t *testing.T) string {
	t.Helper()
	containers.RequireDocker(t)
	dir := filepath.Join(t.TempDir(), "cache")
	t.Setenv("CONTAINERTEST_CACHE_DIR", dir)
	return dir
}

// randomText returns a random lower-case string.
func randomText() string { return strings.ToLower(rand.Text()) }

// writeTree writes files, by slash-separated path relative to dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// buildContext writes files into a new context directory called name, adds a file
// "nonce" with random content so that no earlier run has built this context, and
// removes the images built from it when the test ends.
func buildContext(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.Mkdir(dir, 0o755))
	writeTree(t, dir, files)
	writeTree(t, dir, map[string]string{"nonce": randomText() + "\n"})
	removeBuiltImages(t, dir)
	return dir
}

// removeBuiltImages removes, when the test ends, the cache images that Builds of the
// context dir returned (containers.BuiltImages), including any a NoCache rebuild
// replaced. Registered before the first Start, it runs after the test's containers
// are gone.
func removeBuiltImages(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() {
		ids := containers.BuiltImages(dir)
		if len(ids) == 0 {
			return
		}
		ctx := context.Background()
		eng, err := engine.Get(ctx)
		if err != nil {
			t.Errorf("remove images built from %s: %v", dir, err)
			return
		}
		for _, id := range ids {
			_, err := eng.Client.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true})
			if err != nil && !errdefs.IsNotFound(err) {
				t.Errorf("remove image %s built from %s: %v", id, dir, err)
			}
		}
	})
}

// startBuilt starts a sleeping container of spec and returns it with the tag and id
// of its image.
func startBuilt(t testing.TB, spec containers.Spec) (c *containers.Container, tag, id string) {
	t.Helper()
	c = spec.Cmd("sleep", "60").WaitFor().Start(t)
	info, err := c.Inspect(t.Context())
	require.NoError(t, err)
	return c, info.Image, info.ImageID
}

// shOut runs script in c, requires it to succeed and returns its standard output.
func shOut(t testing.TB, c *containers.Container, script string) string {
	t.Helper()
	res, err := c.Exec(t.Context(), "sh", "-c", script)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "%s: %s%s", script, res.Stdout, res.Stderr)
	return res.Stdout
}

// imageLabels returns the labels of the image ref.
func imageLabels(t testing.TB, ref string) map[string]string {
	t.Helper()
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	ins, err := eng.Client.ImageInspect(t.Context(), ref)
	require.NoError(t, err)
	require.NotNil(t, ins.Config)
	return ins.Config.Labels
}

// imageID returns the id of the image ref.
func imageID(t testing.TB, ref string) string {
	t.Helper()
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	ins, err := eng.Client.ImageInspect(t.Context(), ref)
	require.NoError(t, err)
	return ins.ID
}

// imageExists reports whether the engine has the image ref.
func imageExists(t testing.TB, ref string) bool {
	t.Helper()
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	_, err = eng.Client.ImageInspect(t.Context(), ref)
	if errdefs.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

// contextTar is a build context archive as buildcache.ContextTar makes it.
type contextTar struct {
	raw        []byte
	names      []string          // sorted, directories without the trailing slash
	files      map[string]string // regular files' content
	dockerfile string            // the Dockerfile's name in the archive
}

// readContextTar reads the whole archive that a build of in sends to the engine.
func readContextTar(t *testing.T, in buildcache.Input) contextTar {
	t.Helper()
	bc, err := buildcache.ContextTar(t.Context(), in)
	require.NoError(t, err)
	raw, err := io.ReadAll(bc)
	require.NoError(t, bc.Close())
	require.NoError(t, err)
	ct := contextTar{raw: raw, files: map[string]string{}, dockerfile: bc.Dockerfile}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		ct.names = append(ct.names, strings.TrimSuffix(h.Name, "/"))
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			ct.files[h.Name] = string(b)
		}
	}
	slices.Sort(ct.names)
	return ct
}

// logT records what is logged through it (Build logs its steps there) and passes it on.
type logT struct {
	testing.TB
	mu    sync.Mutex
	lines []string
}

// Logf records the line and logs it through the wrapped TB.
func (l *logT) Logf(format string, args ...any) {
	l.TB.Helper()
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	l.TB.Log(s)
}

// steps returns the build steps logged so far.
func (l *logT) steps() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if stepLine.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

// requireNoBuildContainers fails if any container on the engine, of any session,
// runs a command containing marker: the build steps of the test's Dockerfiles carry
// it, so such a container is an intermediate container the build left behind.
func requireNoBuildContainers(t *testing.T, marker string) {
	t.Helper()
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	list, err := eng.Client.ContainerList(t.Context(), container.ListOptions{All: true})
	require.NoError(t, err)
	for _, c := range list {
		if strings.Contains(c.Command, marker) {
			t.Errorf("build left container %s (%s, %s) running %q", c.ID[:12], c.Image, c.State, c.Command)
		}
	}
}

func TestBuildSpecMisuse(t *testing.T) {
	cases := map[string]struct {
		spec containers.Spec
		want string
	}{
		"build method on an image spec": {containers.Image(busybox).Target("x"), "not a Build spec"},
		"empty context":                 {containers.Build(" "), "empty context directory"},
		"empty build arg":               {containers.Build("ctx").BuildArg("", "v"), "empty name"},
		"reserved label":                {containers.Build("ctx").BuildLabel(labelBuildKey, "k"), "reserved"},
		"empty label":                   {containers.Build("ctx").BuildLabel("", "v"), "empty"},
		"unknown architecture":          {containers.Build("ctx").Platform("linux/bogus"), `platform "linux/bogus": invalid build platform: unknown architecture "bogus"`},
		"unknown operating system":      {containers.Build("ctx").Platform("bogus/amd64"), `unknown operating system "bogus"`},
		"unparsable platform":           {containers.Build("ctx").Platform("a/b/c/d"), `platform "a/b/c/d"`},
		"unknown variant":               {containers.Build("ctx").Platform("linux/amd64/v9"), `unknown variant "v9"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assert.ErrorContains(t, tc.spec.Err(), tc.want)
		})
	}
	assert.NoError(t, containers.Build("ctx").Dockerfile("x").BuildArg("A", "1").Target("t").NoCache().
		BuildLabel("com.example.k", "v").Platform("linux/amd64").Err())
}

func TestBuildArgsAndLabels(t *testing.T) {
	cacheEnv(t)
	// The default BASE names no image: only the build arg makes the build work, so the
	// key's base-image lookup must substitute args in FROM, as the engine does.
	dir := buildContext(t, "ctx-args", map[string]string{
		"Dockerfile": "ARG BASE=containertest.invalid/no-such-base:v0\n" +
			"FROM ${BASE}\n" +
			"ARG GREETING=default\n" +
			"ENV GREETING=${GREETING}\n" +
			"COPY app.txt /app.txt\n",
		"app.txt": "app\n",
	})
	spec := containers.Build(dir).BuildArg("BASE", busybox).BuildArg("GREETING", "hello").
		BuildLabel("com.example.purpose", "args-test")

	before := containers.BuildsRun()
	lt := &logT{TB: t}
	c, tag, _ := startBuilt(lt, spec)
	assert.Equal(t, before+1, containers.BuildsRun())
	assert.Equal(t, "hello app\n", shOut(t, c, `echo "$GREETING $(cat /app.txt)"`))

	assert.Regexp(t, `^containertest/ctx-args:[0-9a-f]{16}$`, tag)
	labels := imageLabels(t, tag)
	assert.Equal(t, "args-test", labels["com.example.purpose"])
	assert.Regexp(t, `^[0-9a-f]{64}$`, labels[labelBuildKey])
	assert.True(t, strings.HasPrefix(labels[labelBuildKey], tag[strings.LastIndex(tag, ":")+1:]),
		"tag %s is not named after the key %s", tag, labels[labelBuildKey])

	steps := lt.steps()
	require.NotEmpty(t, steps, "no build step was logged")
	// The classic builder logs "step 1/5: ARG BASE=...", BuildKit "[1/2] FROM <base>",
	// podman's builder, which does not count an ARG before the first FROM, "step 1/9:
	// FROM busybox:latest" (with the base arg substituted).
	first := `step 1/\d+: ARG BASE=|step \[1/2\] FROM `
	if testimages.IsPodman(t) {
		first = `step 1/\d+: FROM ` + regexp.QuoteMeta(busybox) + `$`
	}
	assert.Regexp(t, first, steps[0])
	assert.True(t, slices.ContainsFunc(steps, func(s string) bool { return strings.Contains(s, "COPY app.txt /app.txt") }),
		"steps logged: %q", steps)
	// ARG defaults and other values of an arg: TestBuildInvalidation.
}

// TestBuildLabelIsInTheKey changes only a build label: the image must carry the new
// value, so the label is part of the key.
func TestBuildLabelIsInTheKey(t *testing.T) {
	cacheEnv(t)
	dir := buildContext(t, "ctx-label", map[string]string{"Dockerfile": "FROM busybox:latest\n"})
	before := containers.BuildsRun()
	_, tag1, _ := startBuilt(t, containers.Build(dir).BuildLabel("com.example.version", "1"))
	_, tag2, _ := startBuilt(t, containers.Build(dir).BuildLabel("com.example.version", "2"))
	assert.Equal(t, "1", imageLabels(t, tag1)["com.example.version"])
	assert.Equal(t, "2", imageLabels(t, tag2)["com.example.version"], "a changed label served the old image")
	assert.Equal(t, before+2, containers.BuildsRun())
	// Without the label: another image again.
	_, tag3, _ := startBuilt(t, containers.Build(dir))
	assert.NotContains(t, imageLabels(t, tag3), "com.example.version")
}

// TestBuildFileChangedWhileSending edits a context file after the key is computed and
// before the context is sent: that build must fail rather than store the new content
// under the old key, and the next build must see the new content.
func TestBuildFileChangedWhileSending(t *testing.T) {
	cacheEnv(t)
	dir := buildContext(t, "ctx-changed", map[string]string{
		"Dockerfile": "FROM busybox:latest\nCOPY app.txt /app.txt\n",
		"app.txt":    "v1\n",
	})
	var once sync.Once
	containers.SetBeforeSendHook(t, func() {
		once.Do(func() { writeTree(t, dir, map[string]string{"app.txt": "v2 edited\n"}) })
	})
	before := containers.BuildsRun()
	_, err := containers.Build(dir).Cmd("sleep", "60").WaitFor().Run(t.Context())
	require.Error(t, err, "a file edited during the build was built under the old key")
	assert.ErrorIs(t, err, buildcache.ErrContextChanged)
	assert.ErrorContains(t, err, filepath.Join(dir, "app.txt"))
	assert.Equal(t, before+1, containers.BuildsRun())

	// The same spec again, unchanged since: the key of v2, built from v2.
	c, _, _ := startBuilt(t, containers.Build(dir))
	assert.Equal(t, before+2, containers.BuildsRun())
	assert.Equal(t, "v2 edited\n", shOut(t, c, "cat /app.txt"))
	// And served from the cache with v2 from then on.
	c, _, _ = startBuilt(t, containers.Build(dir))
	assert.Equal(t, before+2, containers.BuildsRun())
	assert.Equal(t, "v2 edited\n", shOut(t, c, "cat /app.txt"))
}

func TestBuildDockerfilePath(t *testing.T) {
	cacheEnv(t)

	t.Run("inside the context", func(t *testing.T) {
		dir := buildContext(t, "ctx-df-inside", map[string]string{
			"Dockerfile":               "FROM busybox:latest\nENV DOCKERFILE=decoy\n",
			"docker/Custom.Dockerfile": "FROM busybox:latest\nCOPY app.txt /app.txt\nENV DOCKERFILE=inside\n",
			"app.txt":                  "app\n",
		})
		c, _, _ := startBuilt(t, containers.Build(dir).Dockerfile("docker/Custom.Dockerfile"))
		assert.Equal(t, "inside app\n", shOut(t, c, `echo "$DOCKERFILE $(cat /app.txt)"`))
	})

	t.Run("outside the context, absolute", func(t *testing.T) {
		df, err := filepath.Abs(filepath.Join("testdata", "build", "outside.Dockerfile"))
		require.NoError(t, err)
		dir := buildContext(t, "ctx-df-outside", map[string]string{"app.txt": "app\n"})
		c, _, _ := startBuilt(t, containers.Build(dir).Dockerfile(df))
		assert.Equal(t, "outside\n", shOut(t, c, `echo "$DOCKERFILE"`))
		// The Dockerfile travels in the context under a generated name, which the
		// engine must drop: the image sees exactly the context.
		assert.Equal(t, "app.txt\nnonce\n", shOut(t, c, "ls -A /ctx"))
	})

	t.Run("outside the context, relative, with a dockerignore", func(t *testing.T) {
		// Only the archive: the Dockerfile travels under a generated name that is
		// added to the context's own .dockerignore, which the engine then honours
		// for it as in the absolute case.
		root := t.TempDir()
		dir := filepath.Join(root, "ctx")
		const df = "FROM busybox:latest\nCOPY . /ctx/\n"
		writeTree(t, root, map[string]string{
			"ctx/.dockerignore":      "*.md\n",
			"ctx/app.txt":            "app\n",
			"ctx/readme.md":          "ignored\n",
			"dockerfiles/Dockerfile": df,
		})
		ct := readContextTar(t, buildcache.Input{ContextDir: dir, Dockerfile: "../dockerfiles/Dockerfile"})
		require.Regexp(t, `^\.dockerfile\.[0-9a-f]+$`, ct.dockerfile)
		assert.Equal(t, []string{ct.dockerfile, ".dockerignore", "app.txt"}, ct.names)
		assert.Equal(t, df, ct.files[ct.dockerfile])
		assert.Equal(t, []string{"*.md", ct.dockerfile}, strings.Fields(ct.files[".dockerignore"]))
	})
}

func TestBuildDockerignoreKeepsSecretsOnTheMachine(t *testing.T) {
	cacheEnv(t)
	secret := "secret-" + randomText()
	privateKey := "private-" + randomText()
	dir := buildContext(t, "ctx-ignore", map[string]string{
		"Dockerfile":      "FROM busybox:latest\nCOPY . /ctx/\n",
		".dockerignore":   "secret.txt\n*.log\n!keep.log\nprivate/\n",
		"secret.txt":      secret + "\n",
		"debug.log":       secret + " in a log\n",
		"keep.log":        "kept\n",
		"private/key.pem": privateKey + "\n",
		"app/main.txt":    "main\n",
	})

	// What would be sent: the archive the engine receives.
	ct := readContextTar(t, buildcache.Input{ContextDir: dir})
	assert.Equal(t, "Dockerfile", ct.dockerfile)
	assert.Equal(t, []string{".dockerignore", "Dockerfile", "app", "app/main.txt", "keep.log", "nonce"}, ct.names)
	assert.False(t, bytes.Contains(ct.raw, []byte(secret)), "the secret is in the build context archive")
	assert.False(t, bytes.Contains(ct.raw, []byte(privateKey)), "the private key is in the build context archive")

	// What was sent: the engine does not filter the context by .dockerignore (only
	// the client does), so COPY . shows everything the engine received.
	c, _, _ := startBuilt(t, containers.Build(dir))
	assert.Equal(t, "/ctx\n/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/app\n/ctx/app/main.txt\n/ctx/keep.log\n/ctx/nonce\n",
		shOut(t, c, "find /ctx | sort"))
	res, err := c.Exec(t.Context(), "grep", "-rlF", "-e", secret, "-e", privateKey, "/ctx")
	require.NoError(t, err)
	assert.Equal(t, 1, res.ExitCode, "grep found the secret in: %s", res.Stdout)
}

func TestBuildHitSendsNothing(t *testing.T) {
	cacheDir := cacheEnv(t)
	dir := buildContext(t, "ctx-hit", map[string]string{
		"Dockerfile": "FROM busybox:latest\nCOPY app.txt /app.txt\n",
		"app.txt":    "hit\n",
	})
	spec := containers.Build(dir)

	before := containers.BuildsRun()
	first := &logT{TB: t}
	_, tag, id := startBuilt(first, spec)
	require.Equal(t, before+1, containers.BuildsRun())
	assert.NotEmpty(t, first.steps())

	// The stat memo of the context is kept in the cache dir, for the next hash.
	memo, err := buildcache.MemoPath(dir)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(memo, cacheDir+string(filepath.Separator)), memo)
	assert.FileExists(t, memo)

	second := &logT{TB: t}
	c, tag2, id2 := startBuilt(second, spec)
	assert.Equal(t, before+1, containers.BuildsRun(), "an unchanged context was built again")
	assert.Empty(t, second.steps())
	assert.Equal(t, tag, tag2)
	assert.Equal(t, id, id2)
	assert.Equal(t, "hit\n", shOut(t, c, "cat /app.txt"))

	// Another process finds the image too.
	h := runBuildHelpers(t, dir, 1)[0]
	assert.Equal(t, 0, h.builds, "a new process built again:\n%s", h.out)
	assert.Equal(t, id, h.image)
	assert.NotRegexp(t, stepLine, h.out)
}

// TestHelperBuildProcess is not a test: the cross-process tests run the test binary
// again with only this test and helperEnv naming a context directory. It waits until
// its standard input is closed, so that all helpers start together, starts a
// container of that build and prints how many builds this process sent.
func TestHelperBuildProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process of the cross-process build tests")
	}
	_, err := io.Copy(io.Discard, os.Stdin)
	require.NoError(t, err)
	_, _, id := startBuilt(t, containers.Build(dir))
	fmt.Printf("build-helper: builds=%d image=%s\n", containers.BuildsRun(), id)
}

// helperResult is what one TestHelperBuildProcess reported.
type helperResult struct {
	builds int
	image  string
	out    string
}

var helperLine = regexp.MustCompile(`build-helper: builds=(\d+) image=(\S+)`)

// runBuildHelpers runs n helper processes on the context dir, with this process's
// environment (and so its cache dir), releases them together and returns their
// reports.
func runBuildHelpers(t *testing.T, dir string, n int) []helperResult {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	stdins := make([]io.WriteCloser, n)
	for i := range n {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperBuildProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir)
		outs[i] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		var err error
		stdins[i], err = cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		cmds[i] = cmd
	}
	for _, w := range stdins {
		require.NoError(t, w.Close())
	}
	res := make([]helperResult, n)
	for i, cmd := range cmds {
		err := cmd.Wait()
		out := outs[i].String()
		require.NoError(t, err, "helper %d:\n%s", i, out)
		m := helperLine.FindStringSubmatch(out)
		require.NotNil(t, m, "helper %d printed no report:\n%s", i, out)
		builds, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		res[i] = helperResult{builds: builds, image: m[2], out: out}
	}
	return res
}

func TestBuildOnceAcrossProcesses(t *testing.T) {
	cacheEnv(t)
	dir := buildContext(t, "ctx-processes", map[string]string{"Dockerfile": "FROM busybox:latest\n"})
	results := runBuildHelpers(t, dir, 4)
	sum, building := 0, 0
	for i, r := range results {
		sum += r.builds
		if stepLine.MatchString(r.out) {
			building++
		}
		assert.Equal(t, results[0].image, r.image, "helper %d started another image", i)
	}
	assert.Equal(t, 1, sum, "builds sent by 4 processes on one context")
	assert.Equal(t, 1, building, "processes that logged build steps")
}

func TestBuildOnceInProcess(t *testing.T) {
	cacheEnv(t)
	dir := buildContext(t, "ctx-goroutines", map[string]string{"Dockerfile": "FROM busybox:latest\n"})
	before := containers.BuildsRun()
	const n = 4
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := containers.Build(dir).Cmd("sleep", "60").WaitFor().Run(t.Context())
			if err != nil {
				errs[i] = err
				return
			}
			defer func() { _ = c.Terminate(context.Background()) }()
			info, err := c.Inspect(t.Context())
			ids[i], errs[i] = info.ImageID, err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "start %d", i)
		assert.Equal(t, ids[0], ids[i])
	}
	assert.Equal(t, before+1, containers.BuildsRun(), "builds sent for 4 concurrent starts of one context")
}

func TestBuildInvalidation(t *testing.T) {
	cacheEnv(t)
	const dockerfile = "FROM busybox:latest AS base\n" +
		"COPY app.txt /app.txt\n" +
		"FROM base AS final\n" +
		"ARG FLAVOUR=plain\n" +
		"ENV FLAVOUR=${FLAVOUR}\n"
	dir := buildContext(t, "ctx-invalidate", map[string]string{
		"Dockerfile":    dockerfile,
		".dockerignore": "notes.md\n",
		"app.txt":       "v1\n",
		"notes.md":      "not part of the build\n",
	})
	spec := containers.Build(dir)
	const probe = `echo "$(cat /app.txt) ${FLAVOUR-unset} ${EXTRA-none}"`
	steps := []struct {
		name    string
		change  func(t *testing.T)
		spec    containers.Spec
		rebuild bool
		want    string
	}{
		{"first build", nil, spec, true, "v1 plain none\n"},
		{"changed file", func(t *testing.T) { writeTree(t, dir, map[string]string{"app.txt": "v2\n"}) }, spec, true, "v2 plain none\n"},
		{"build arg", nil, spec.BuildArg("FLAVOUR", "spicy"), true, "v2 spicy none\n"},
		// The target stage's content, not the last stage's.
		{"target", nil, spec.Target("base"), true, "v2 unset none\n"},
		{"changed dockerfile", func(t *testing.T) {
			writeTree(t, dir, map[string]string{"Dockerfile": dockerfile + "ENV EXTRA=yes\n"})
		}, spec, true, "v2 plain yes\n"},
		{"changed ignored file", func(t *testing.T) {
			writeTree(t, dir, map[string]string{"notes.md": "changed, still not part of the build\n"})
		}, spec, false, "v2 plain yes\n"},
	}
	seen := map[string]string{} // tag -> step that built it
	var lastTag string
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.change != nil {
				st.change(t)
			}
			before := containers.BuildsRun()
			c, tag, _ := startBuilt(t, st.spec)
			if st.rebuild {
				assert.Equal(t, before+1, containers.BuildsRun(), "no rebuild")
				assert.NotContains(t, seen, tag, "a new build reused a tag")
				seen[tag] = st.name
			} else {
				assert.Equal(t, before, containers.BuildsRun(), "rebuilt")
				assert.Equal(t, lastTag, tag)
			}
			lastTag = tag
			assert.Equal(t, st.want, shOut(t, c, probe))
		})
	}
}

// engineBuild builds the files (a context with a Dockerfile) as tag directly with the
// engine, as a base image for a test.
func engineBuild(t *testing.T, tag string, files map[string]string) {
	t.Helper()
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}))
		_, err := tw.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	resp, err := eng.Client.ImageBuild(t.Context(), &buf, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true,
		Labels: map[string]string{engine.LabelManaged: "true"},
	})
	require.NoError(t, err)
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		require.Empty(t, msg.Error, "build %s", tag)
	}
}

func TestBuildRebuildsWhenBaseImageMoves(t *testing.T) {
	cacheEnv(t)
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	base := "containertest/base-" + randomText()[:12] + ":v1"
	require.NoError(t, eng.Client.ImageTag(t.Context(), busybox, base))
	t.Cleanup(func() {
		// Registered before the context's cleanup, so this runs after the images
		// built on the base are gone.
		_, err := eng.Client.ImageRemove(context.Background(), base, image.RemoveOptions{PruneChildren: true})
		if err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("remove %s: %v", base, err)
		}
	})
	dir := buildContext(t, "ctx-base", map[string]string{
		"Dockerfile": "FROM " + base + "\nCOPY app.txt /app.txt\n",
		"app.txt":    "app\n",
	})
	spec := containers.Build(dir)

	before := containers.BuildsRun()
	c, tag1, _ := startBuilt(t, spec)
	require.Equal(t, before+1, containers.BuildsRun())
	assert.Equal(t, "no marker\n", shOut(t, c, "cat /marker 2>/dev/null || echo no marker"))

	// Move the base tag to another image.
	engineBuild(t, base, map[string]string{
		"Dockerfile": "FROM busybox:latest\nCOPY marker /marker\n",
		"marker":     "moved base\n",
	})
	c, tag2, _ := startBuilt(t, spec)
	assert.Equal(t, before+2, containers.BuildsRun(), "a moved base image did not rebuild")
	assert.NotEqual(t, tag1, tag2)
	assert.Equal(t, "moved base\n", shOut(t, c, "cat /marker"))
}

func TestBuildNoCache(t *testing.T) {
	cacheEnv(t)
	dir := buildContext(t, "ctx-nocache", map[string]string{
		"Dockerfile": "FROM busybox:latest\nCOPY app.txt /app.txt\n",
		"app.txt":    "app\n",
	})
	before := containers.BuildsRun()
	_, tag, id := startBuilt(t, containers.Build(dir))
	lt := &logT{TB: t}
	_, tag2, id2 := startBuilt(lt, containers.Build(dir).NoCache())
	assert.Equal(t, before+2, containers.BuildsRun(), "NoCache did not build")
	assert.NotEmpty(t, lt.steps())
	assert.Equal(t, tag, tag2)
	assert.NotEqual(t, id, id2, "NoCache used the engine's layer cache")
	// The rebuilt image replaced the cached one.
	assert.Equal(t, id2, imageID(t, tag))
}

func TestBuildFailures(t *testing.T) {
	cacheEnv(t)
	marker := randomText()
	noDockerfile := buildContext(t, "ctx-no-dockerfile", map[string]string{"app.txt": "app\n"})
	cases := []struct {
		name   string
		spec   func(t *testing.T) containers.Spec
		builds int64 // builds sent to the engine
		is     error
		want   []string
		match  string // regexp the error must match
		not    string // the error must not contain it
	}{
		{
			name: "missing context dir",
			spec: func(t *testing.T) containers.Spec {
				return containers.Build(filepath.Join(t.TempDir(), "no-such-context"))
			},
			is:   buildcache.ErrNoContext,
			want: []string{"no-such-context", "build context directory not found"},
		},
		{
			name: "missing Dockerfile",
			spec: func(*testing.T) containers.Spec { return containers.Build(noDockerfile) },
			is:   buildcache.ErrNoDockerfile,
			want: []string{filepath.Join("ctx-no-dockerfile", "Dockerfile"), "not found"},
		},
		{
			name: "missing custom Dockerfile",
			spec: func(*testing.T) containers.Spec {
				return containers.Build(noDockerfile).Dockerfile("build/Custom.Dockerfile")
			},
			is:   buildcache.ErrNoDockerfile,
			want: []string{filepath.Join("build", "Custom.Dockerfile")},
		},
		{
			name: "syntax error",
			spec: func(t *testing.T) containers.Spec {
				return containers.Build(buildContext(t, "ctx-syntax", map[string]string{
					"Dockerfile": "FROM busybox:latest\nCOPY app.txt /app.txt\nRUNN echo " + marker + "\n",
					"app.txt":    "app\n",
				}))
			},
			is:    buildcache.ErrInvalidDockerfile,
			match: `Dockerfile:3: .*unknown instruction`,
			want:  []string{"RUNN"},
		},
		{
			name: "failing RUN",
			spec: func(t *testing.T) containers.Spec {
				return containers.Build(buildContext(t, "ctx-run-fails", map[string]string{
					"Dockerfile": "FROM busybox:latest\n" +
						"RUN for i in $(seq 1 60); do echo line-$i-" + marker + "; done; echo err-" + marker + " >&2; exit 3\n",
				}))
			},
			builds: 1,
			is:     containers.ErrBuildFailed,
			// Docker: "returned a non-zero code: 3", BuildKit "exit code: 3", podman
			// "exit status 3".
			match: `(step 2/\d+: |step \[2/2\] )RUN for i in.*((non-zero code|exit code): |exit status )3`,
			// The tail of the output, stdout and stderr, but not all of it.
			want: []string{"line-60-" + marker, "err-" + marker},
			not:  "line-1-" + marker,
		},
		{
			name: "FROM image that exists nowhere",
			spec: func(t *testing.T) containers.Spec {
				return containers.Build(buildContext(t, "ctx-no-base", map[string]string{
					"Dockerfile": "FROM containertest.invalid/no-such-base-" + marker + ":v0\nRUN echo " + marker + "\n",
				}))
			},
			is:   containers.ErrImageNotFound,
			want: []string{"containertest.invalid/no-such-base-" + marker + ":v0", "not found locally", "pull failed"},
		},
		{
			name: "unknown target",
			spec: func(t *testing.T) containers.Spec {
				return containers.Build(buildContext(t, "ctx-no-target", map[string]string{
					"Dockerfile": "FROM busybox:latest AS first\nRUN echo " + marker + "\nFROM first AS second\n",
				})).Target("third")
			},
			is:   buildcache.ErrUnknownTarget,
			want: []string{`"third"`, "first, second"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec(t)
			before := containers.BuildsRun()
			c, err := spec.Cmd("sleep", "60").WaitFor().Run(t.Context())
			require.Error(t, err)
			assert.Nil(t, c)
			t.Logf("error: %v", err)
			assert.ErrorIs(t, err, tc.is)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			if tc.match != "" {
				assert.Regexp(t, tc.match, err.Error())
			}
			if tc.not != "" {
				assert.NotContains(t, err.Error(), tc.not)
			}
			assert.NotContains(t, err.Error(), "\x1b", "terminal escapes in the error")
			assert.Equal(t, before+tc.builds, containers.BuildsRun(), "builds sent to the engine")
		})
	}
	requireNoBuildContainers(t, marker)
	requireNoLeak(t, "ct-"+engine.SessionID()[:6])
}

func TestBuildPruneCache(t *testing.T) {
	cacheDir := cacheEnv(t)
	ctx := t.Context()
	files := map[string]string{"Dockerfile": "FROM busybox:latest\n"}
	oldDir := buildContext(t, "ctx-prune-old", files)
	recentDir := buildContext(t, "ctx-prune-recent", files)
	inUseDir := buildContext(t, "ctx-prune-in-use", files)

	c, err := containers.Build(oldDir).Cmd("sleep", "60").WaitFor().Run(ctx)
	require.NoError(t, err)
	info, err := c.Inspect(ctx)
	require.NoError(t, err)
	oldTag := info.Image
	require.NoError(t, c.Terminate(ctx))
	_, recentTag, _ := startBuilt(t, containers.Build(recentDir))
	_, inUseTag, _ := startBuilt(t, containers.Build(inUseDir))

	// Each use left a record; age those of old and in-use. Far in the past, so that
	// no other cache image on the shared engine is as old.
	longAgo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := map[string]string{}
	for _, tag := range []string{oldTag, recentTag, inUseTag} {
		keys[tag] = imageLabels(t, tag)[labelBuildKey]
		require.FileExists(t, filepath.Join(cacheDir, "used", keys[tag]))
	}
	for _, tag := range []string{oldTag, inUseTag} {
		require.NoError(t, os.Chtimes(filepath.Join(cacheDir, "used", keys[tag]), longAgo, longAgo))
	}

	removed, err := containers.PruneBuildCache(ctx, time.Since(longAgo.Add(24*time.Hour)))
	require.NoError(t, err)
	assert.Contains(t, removed, oldTag)
	for _, r := range removed {
		// Besides old tags, prune removes untagged images that a NoCache rebuild
		// replaced (reported by id); never a tag that is still in use or recent.
		if r != oldTag {
			assert.True(t, strings.HasPrefix(r, "sha256:"), "prune removed %s", r)
		}
	}
	assert.False(t, imageExists(t, oldTag), "the old image is still there")
	assert.True(t, imageExists(t, recentTag), "the recently used image was removed")
	assert.True(t, imageExists(t, inUseTag), "an image in use by a container was removed")
	_, ok := buildcache.LastUsed(keys[oldTag])
	assert.False(t, ok, "the removed image's record is kept")
}

// The project's build tests remove the images they built, NoCache replacements
// included: cached images must stay bounded however often the suite runs.
func TestBuildTestsRemoveTheirImages(t *testing.T) {
	containers.RequireDocker(t)
	var dir string
	t.Run("build", func(t *testing.T) {
		dir = buildContext(t, "ctx-cleanup", map[string]string{
			"Dockerfile": "FROM " + busybox + "\nCOPY nonce /nonce\nCMD [\"sleep\", \"60\"]\n",
		})
		containers.Build(dir).Start(t)
		containers.Build(dir).NoCache().Start(t)
		if n := len(containers.BuiltImages(dir)); n != 2 {
			t.Fatalf("BuiltImages = %d images, want 2 (the first and its NoCache replacement)", n)
		}
	})
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	for _, id := range containers.BuiltImages(dir) {
		if _, err := eng.Client.ImageInspect(t.Context(), id); !errdefs.IsNotFound(err) {
			t.Errorf("image %s built by the subtest is still there (inspect: %v)", id, err)
		}
	}
}

// A prune while a classic build runs must not remove the untagged image of the build's
// last step: the builder adds the cache's labels as the last steps, so that image has
// the build key before any tag points at it (CI's run of TestBuildBothBuilders failed
// with "failed to get digest" when another test's eviction took it).
func TestPruneSparesRunningBuilds(t *testing.T) {
	cacheEnv(t)
	t.Setenv("CONTAINERTEST_BUILDER", "classic")
	ctx := t.Context()
	var dirs []string // made first: their images go after the containers that use them
	for i := range 2 {
		dirs = append(dirs, buildContext(t, fmt.Sprintf("ctx-prune-running-%d", i), map[string]string{
			"Dockerfile": "FROM " + busybox + "\nCOPY nonce /nonce\n",
		}))
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Nothing here is 1000 hours old: only replaced images may go.
			_, err := containers.PruneBuildCache(ctx, 1000*time.Hour)
			if err != nil {
				done <- err
				return
			}
			time.Sleep(10 * time.Millisecond) // a tight loop slows the builds tenfold
		}
	}()
	for _, dir := range dirs {
		spec := containers.Build(dir).BuildLabel("a", "1").BuildLabel("b", "2").BuildLabel("c", "3")
		startBuilt(t, spec)
		startBuilt(t, spec.NoCache())
	}
	close(stop)
	require.NoError(t, <-done)
}
