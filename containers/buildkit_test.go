package containers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/image"
)

// requireBuildKit skips the test unless builds go through BuildKit on this engine.
func requireBuildKit(t *testing.T) {
	t.Helper()
	cacheEnv(t)
	t.Setenv("CONTAINERTEST_BUILDER", "")
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	p, err := eng.Client.Ping(t.Context())
	require.NoError(t, err)
	if p.OSType != "linux" || p.BuilderVersion == "1" {
		t.Skipf("the engine builds with the classic builder (OS %s, Builder-Version %q)", p.OSType, p.BuilderVersion)
	}
}

// engineVersion returns the engine's version.
func engineVersion(t *testing.T) string {
	t.Helper()
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	v, err := eng.Client.ServerVersion(t.Context())
	require.NoError(t, err)
	return v.Version
}

// buildErr runs a container of spec, requires it to fail and returns the error.
func buildErr(t *testing.T, spec containers.Spec) error {
	t.Helper()
	c, err := spec.Cmd("sleep", "60").WaitFor().Run(t.Context())
	require.Error(t, err)
	assert.Nil(t, c)
	t.Logf("error: %v", err)
	return err
}

func TestBuildKitCacheMountSurvivesBuilds(t *testing.T) {
	requireBuildKit(t)
	marker := randomText()
	dir := buildContext(t, "ctx-cache-mount", map[string]string{
		"Dockerfile": "FROM busybox:latest\n" +
			"COPY nonce /nonce\n" +
			"RUN --mount=type=cache,target=/cache,id=ct-" + marker + " " +
			"sh -c 'cat /nonce >> /cache/runs; wc -l < /cache/runs | tr -d \" \" > /runs'\n",
	})
	c, _, _ := startBuilt(t, containers.Build(dir))
	assert.Equal(t, "1\n", shOut(t, c, "cat /runs"))
	assert.Equal(t, "1\n", shOut(t, c, "test -e /cache/runs || echo 1"), "the cache mount is in the image")

	// Another build (the COPY layer changes): the cache mount still holds the first run.
	writeTree(t, dir, map[string]string{"nonce": randomText() + "\n"})
	c, _, _ = startBuilt(t, containers.Build(dir))
	assert.Equal(t, "2\n", shOut(t, c, "cat /runs"))
}

func TestBuildKitBindAndTmpfsMounts(t *testing.T) {
	requireBuildKit(t)
	dir := buildContext(t, "ctx-bind-mounts", map[string]string{
		"Dockerfile": "FROM busybox:latest AS tools\n" +
			"RUN echo from-stage > /tool.txt\n" +
			"FROM busybox:latest\n" +
			"COPY nonce /nonce\n" +
			"RUN --mount=type=bind,source=app.txt,target=/src/app.txt " +
			"--mount=type=bind,from=tools,source=/tool.txt,target=/t/tool.txt " +
			"cat /src/app.txt /t/tool.txt > /out\n" +
			"RUN --mount=type=tmpfs,target=/scratch " +
			"sh -c 'grep \" /scratch \" /proc/mounts | cut -d\" \" -f3 > /fstype; echo x > /scratch/f'\n",
		"app.txt": "from-context\n",
	})
	c, _, _ := startBuilt(t, containers.Build(dir))
	assert.Equal(t, "from-context\nfrom-stage\n", shOut(t, c, "cat /out"))
	assert.Equal(t, "tmpfs\n", shOut(t, c, "cat /fstype"))
	// Mounts leave nothing in the image.
	// Mounts leave nothing in the image but their empty mount points.
	assert.Equal(t, "", shOut(t, c, "find /src /t /scratch -mindepth 1"))
}

func TestBuildKitMultiStage(t *testing.T) {
	requireBuildKit(t)
	marker := randomText()
	// Stages a and b are independent and each sleeps; "broken" would fail the build
	// if it ran. Start and end times come from the host's uptime, which containers
	// share.
	stage := func(name string) string {
		return "FROM busybox:latest AS " + name + "\n" +
			"RUN echo " + marker + "-" + name + " > /id && cut -d' ' -f1 /proc/uptime > /start && sleep 2 && cut -d' ' -f1 /proc/uptime > /end\n"
	}
	dir := buildContext(t, "ctx-multi-stage", map[string]string{
		"Dockerfile": "FROM busybox:latest AS broken\n" +
			"RUN echo " + marker + " && exit 1\n" +
			stage("a") + stage("b") +
			"FROM busybox:latest\n" +
			"COPY --from=a /start /a.start\nCOPY --from=a /end /a.end\n" +
			"COPY --from=b /start /b.start\nCOPY --from=b /end /b.end\n",
	})
	lt := &logT{TB: t}
	c, _, _ := startBuilt(lt, containers.Build(dir))
	for _, s := range lt.steps() {
		assert.NotContains(t, s, "broken", "a stage the target does not need was built")
	}
	num := func(p string) float64 {
		f, err := strconv.ParseFloat(strings.TrimSpace(shOut(t, c, "cat "+p)), 64)
		require.NoError(t, err)
		return f
	}
	aStart, aEnd, bStart, bEnd := num("/a.start"), num("/a.end"), num("/b.start"), num("/b.end")
	assert.True(t, aStart < bEnd && bStart < aEnd,
		"independent stages ran one after the other: a %v-%v, b %v-%v", aStart, aEnd, bStart, bEnd)

	// Target builds the named stage only.
	c, _, _ = startBuilt(t, containers.Build(dir).Target("b"))
	assert.Equal(t, marker+"-b\n", shOut(t, c, "cat /id"))
	requireNoBuildContainers(t, marker)
}

func TestBuildKitDockerfileIgnoreFile(t *testing.T) {
	requireBuildKit(t)
	secret := "secret-" + randomText()
	dir := buildContext(t, "ctx-df-ignore", map[string]string{
		"app/app.Dockerfile":              "FROM busybox:latest\nCOPY . /ctx/\n",
		"app/app.Dockerfile.dockerignore": "secret.txt\nlogs/\n",
		".dockerignore":                   "app.txt\n",
		"secret.txt":                      secret + "\n",
		"logs/debug.log":                  secret + "\n",
		"app.txt":                         "app\n",
	})
	c, _, _ := startBuilt(t, containers.Build(dir).Dockerfile("app/app.Dockerfile"))
	assert.ElementsMatch(t, []string{"/ctx", "/ctx/.dockerignore", "/ctx/app", "/ctx/app/app.Dockerfile",
		"/ctx/app/app.Dockerfile.dockerignore", "/ctx/app.txt", "/ctx/nonce"},
		strings.Fields(shOut(t, c, "find /ctx")))
	res, err := c.Exec(t.Context(), "grep", "-rlF", secret, "/ctx")
	require.NoError(t, err)
	assert.Equal(t, 1, res.ExitCode, "grep found the secret in: %s", res.Stdout)
}

// TestBuildBothBuilders builds one context through each builder: the key names the
// builder, so each makes its own image, and each logs its steps.
func TestBuildBothBuilders(t *testing.T) {
	requireBuildKit(t)
	dir := buildContext(t, "ctx-builders", map[string]string{
		"Dockerfile": "FROM busybox:latest\nARG WHO=nobody\nCOPY app.txt /app.txt\nRUN echo \"built by $WHO\" > /who\n",
		"app.txt":    "app\n",
	})
	tags := map[string]string{}
	for _, b := range []struct{ name, step string }{
		{"classic", `step \d+/\d+: RUN echo`},
		{"buildkit", `step \[\d+/\d+\] RUN echo .*: (done in|cached)`},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Setenv("CONTAINERTEST_BUILDER", b.name)
			before := containers.BuildsRun()
			lt := &logT{TB: t}
			c, tag, _ := startBuilt(lt, containers.Build(dir).BuildArg("WHO", b.name))
			assert.Equal(t, before+1, containers.BuildsRun())
			assert.Equal(t, "built by "+b.name+"\napp\n", shOut(t, c, "cat /who /app.txt"))
			steps := strings.Join(lt.steps(), "\n")
			assert.Regexp(t, b.step, steps)
			if b.name == "buildkit" {
				// The cache's label is a frontend attribute, not a step of its own.
				assert.NotContains(t, steps, "LABEL")
				assert.Len(t, lt.steps(), 3, "steps: %s", steps)
			}
			assert.Regexp(t, `^[0-9a-f]{64}$`, imageLabels(t, tag)[labelBuildKey])
			tags[b.name] = tag
			// A hit sends nothing, with either builder.
			_, tag2, _ := startBuilt(t, containers.Build(dir).BuildArg("WHO", b.name))
			assert.Equal(t, tag, tag2)
			assert.Equal(t, before+1, containers.BuildsRun())
		})
	}
	assert.NotEqual(t, tags["classic"], tags["buildkit"])

	t.Run("classic rejects BuildKit syntax before sending", func(t *testing.T) {
		t.Setenv("CONTAINERTEST_BUILDER", "classic")
		mdir := buildContext(t, "ctx-classic-mount", map[string]string{
			"Dockerfile": "FROM busybox:latest\nRUN --mount=type=cache,target=/c true\n",
		})
		before := containers.BuildsRun()
		err := buildErr(t, containers.Build(mdir))
		assert.ErrorIs(t, err, containers.ErrUnsupportedSyntax)
		assert.ErrorContains(t, err, "Dockerfile:2: RUN --mount=type=cache")
		assert.ErrorContains(t, err, "CONTAINERTEST_BUILDER=classic")
		assert.Equal(t, before, containers.BuildsRun())
		err = buildErr(t, containers.Build(dir).BuildSecret("tok", "x"))
		assert.ErrorIs(t, err, containers.ErrBuildSecret)
	})
	t.Run("bogus builder", func(t *testing.T) {
		t.Setenv("CONTAINERTEST_BUILDER", "kaniko")
		err := buildErr(t, containers.Build(dir))
		assert.ErrorContains(t, err, `CONTAINERTEST_BUILDER="kaniko": want buildkit, classic or auto`)
	})
}

func TestBuildKitUnsupportedSyntax(t *testing.T) {
	requireBuildKit(t)
	version := engineVersion(t)

	t.Run("heredoc on an engine whose frontend predates it", func(t *testing.T) {
		major, _, _ := strings.Cut(version, ".")
		if n, _ := strconv.Atoi(major); n >= 23 {
			t.Skipf("Docker %s has heredocs", version)
		}
		dir := buildContext(t, "ctx-heredoc", map[string]string{
			"Dockerfile": "FROM busybox:latest\nCOPY nonce /nonce\nRUN <<EOF\necho hi\nEOF\n",
		})
		before := containers.BuildsRun()
		err := buildErr(t, containers.Build(dir))
		assert.ErrorIs(t, err, containers.ErrUnsupportedSyntax)
		for _, w := range []string{"Dockerfile:3: heredoc", `"RUN <<EOF"`, "Docker 23.0 or later", "Docker " + version, "upgrade the engine", "# syntax="} {
			assert.ErrorContains(t, err, w)
		}
		assert.Equal(t, before, containers.BuildsRun(), "sent to the engine")
	})

	t.Run("syntax line naming a frontend that cannot be pulled", func(t *testing.T) {
		dir := buildContext(t, "ctx-syntax-line", map[string]string{
			"Dockerfile": "# syntax=containertest.invalid/no-such-frontend:1\nFROM busybox:latest\n",
		})
		before := containers.BuildsRun()
		err := buildErr(t, containers.Build(dir))
		assert.ErrorIs(t, err, containers.ErrUnsupportedSyntax)
		for _, w := range []string{"Dockerfile:1:", "containertest.invalid/no-such-frontend:1", "Docker " + version, "remove the line"} {
			assert.ErrorContains(t, err, w)
		}
		assert.Equal(t, before, containers.BuildsRun(), "sent to the engine")
	})
}

// sum returns the hex sha256 of s.
func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestBuildKitSecrets(t *testing.T) {
	cacheDir := func() string { requireBuildKit(t); return os.Getenv("CONTAINERTEST_CACHE_DIR") }()
	value := "value-" + randomText()
	fromFile := "file-" + randomText()
	fromEnv := "env-" + randomText()
	secretFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(secretFile, []byte(fromFile), 0o600))
	t.Setenv("CT_TEST_SECRET", fromEnv)
	dir := buildContext(t, "ctx-secrets", map[string]string{
		"Dockerfile": "FROM busybox:latest\n" +
			"COPY nonce /nonce\n" +
			// The step prints the secrets: the log must not show them.
			"RUN --mount=type=secret,id=tok --mount=type=secret,id=file --mount=type=secret,id=env " +
			"sh -c 'test \"$(sha256sum < /run/secrets/tok)\" = \"" + sum(value) + "  -\" && " +
			"test \"$(sha256sum < /run/secrets/file)\" = \"" + sum(fromFile) + "  -\" && " +
			"test \"$(sha256sum < /run/secrets/env)\" = \"" + sum(fromEnv) + "  -\" && " +
			"echo secrets-ok && cat /run/secrets/tok && echo'\n" +
			"RUN test ! -e /run/secrets/tok && echo no-secret-after\n",
	})
	spec := containers.Build(dir).BuildSecret("tok", value).BuildSecretFile("file", secretFile).BuildSecretEnv("env", "CT_TEST_SECRET")
	before := containers.BuildsRun()
	lt := &logT{TB: t}
	c, tag, _ := startBuilt(lt, spec)
	assert.Equal(t, before+1, containers.BuildsRun())
	log := strings.Join(lt.lines, "\n")
	assert.Contains(t, log, "secrets-ok", "the RUN step's output is not logged")
	assert.Contains(t, log, "no-secret-after")
	assert.Contains(t, log, "[secret]", "the printed secret was not redacted")
	secrets := []string{value, fromFile, fromEnv}
	for _, s := range secrets {
		assert.NotContains(t, log, s, "a secret in the test log")
	}
	assert.Equal(t, "none\n", shOut(t, c, "ls -A /run/secrets 2>/dev/null | grep . || echo none"))

	// Not in a layer, the history, a label or the cache's files.
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	rc, err := eng.Client.ImageSave(t.Context(), []string{tag})
	require.NoError(t, err)
	saved, err := io.ReadAll(rc)
	require.NoError(t, rc.Close())
	require.NoError(t, err)
	hist, err := eng.Client.ImageHistory(t.Context(), tag)
	require.NoError(t, err)
	var history strings.Builder
	for _, h := range hist {
		history.WriteString(h.CreatedBy + "\n")
	}
	labels := imageLabels(t, tag)
	for _, s := range secrets {
		assert.False(t, bytes.Contains(saved, []byte(s)), "a secret in the saved image")
		assert.NotContains(t, history.String(), s, "a secret in the history")
		for k, v := range labels {
			assert.NotContains(t, k+"="+v, s, "a secret in a label")
		}
	}
	require.NoError(t, filepath.WalkDir(cacheDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, s := range secrets {
			assert.False(t, bytes.Contains(b, []byte(s)), "a secret in %s", p)
		}
		return err
	}))

	// The key holds the secrets' identities: a new value is a hit, another source is not.
	t.Setenv("CT_TEST_SECRET", "other-"+randomText())
	_, tag2, _ := startBuilt(t, spec.BuildSecret("tok", "another value"))
	assert.Equal(t, tag, tag2)
	assert.Equal(t, before+1, containers.BuildsRun())
	t.Setenv("CT_OTHER_SECRET", fromEnv)
	_, tag3, _ := startBuilt(t, spec.BuildSecretEnv("env", "CT_OTHER_SECRET"))
	assert.NotEqual(t, tag, tag3)
	assert.Equal(t, before+2, containers.BuildsRun())
}

func TestBuildKitSecretErrors(t *testing.T) {
	requireBuildKit(t)
	dir := buildContext(t, "ctx-secret-errors", map[string]string{
		"Dockerfile": "FROM busybox:latest\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n",
	})
	cases := []struct {
		name string
		spec containers.Spec
		want []string
	}{
		{"unset variable", containers.Build(dir).BuildSecretEnv("tok", "CT_NO_SUCH_VARIABLE"), []string{`secret "tok"`, "CT_NO_SUCH_VARIABLE is not set"}},
		{"missing file", containers.Build(dir).BuildSecretFile("tok", filepath.Join(t.TempDir(), "missing")), []string{`secret "tok"`, "missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := containers.BuildsRun()
			err := buildErr(t, tc.spec)
			assert.ErrorIs(t, err, containers.ErrBuildSecret)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			assert.Equal(t, before, containers.BuildsRun())
		})
	}
	t.Run("no session", func(t *testing.T) {
		containers.FailSessionDial(t, errors.New("session endpoint refused"))
		err := buildErr(t, containers.Build(dir).BuildSecret("tok", "x"))
		assert.ErrorIs(t, err, containers.ErrBuildSecret)
		assert.ErrorContains(t, err, "build secrets need a BuildKit session on the engine's /session endpoint")
		assert.ErrorContains(t, err, "session endpoint refused")
	})
	assert.ErrorContains(t, containers.Build(dir).BuildSecret("a,b", "x").Err(), "invalid id")
	assert.ErrorContains(t, containers.Build(dir).BuildSecretEnv("a", "").Err(), "empty variable name")
}

var _ = image.ListOptions{}
