//go:build linux

package reaper

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
)

func TestParseKeepMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Never, "never": Never, "failed": Failed, "Failed": Failed, "always": Always} {
		got, err := ParseKeepMode(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseKeepMode("sometimes")
	require.ErrorContains(t, err, `CONTAINERTEST_KEEP="sometimes"`)

	assert.False(t, Never.Keeps(true))
	assert.False(t, Failed.Keeps(false))
	assert.True(t, Failed.Keeps(true))
	assert.True(t, Always.Keeps(false))
}

func TestLabelsKeepAlways(t *testing.T) {
	t.Setenv(EnvKeep, "always")
	assert.Equal(t, "true", Labels()[engine.LabelKeep])
	t.Setenv(EnvKeep, "failed")
	assert.NotContains(t, Labels(), engine.LabelKeep)
	assert.Equal(t, engine.SessionID(), WithLabels(map[string]string{engine.LabelSession: "x", "a": "b"})[engine.LabelSession],
		"a user label overrode a framework label")
}

func TestReport(t *testing.T) {
	t.Setenv(EnvKeep, "failed")
	var b strings.Builder
	require.NoError(t, Report(&b, []KeptInfo{
		{Ref: Ref{Container, "c1"}, Name: "db", Image: "postgres:15", State: "running",
			Networks:  []NetworkInfo{{Name: "net1", IP: "172.18.0.2", Aliases: []string{"db", "pg"}}},
			Endpoints: []string{"5432/tcp -> 127.0.0.1:49153"}},
		{Ref: Ref{Container, "c2"}, Name: "api", Image: "api:dev", State: "exited (code 137, OOM killed)"},
		{Ref: Ref{Network, "n1"}, Name: "net1"},
		{Ref: Ref{Volume, "v1"}, Name: "data"},
	}))
	want := `containertest: kept 2 containers, 1 network, 1 volume for debugging (CONTAINERTEST_KEEP=failed):
  container db
    image:    postgres:15
    state:    running
    network:  net1 ip 172.18.0.2 aliases db, pg
    endpoint: 5432/tcp -> 127.0.0.1:49153
    get in:   docker exec -it db sh
    logs:     docker logs -f db
  container api
    image:    api:dev
    state:    exited (code 137, OOM killed)
    get in:   docker exec -it api sh
    logs:     docker logs -f api
  network net1
  volume data
  remove them: docker rm -f -v db api; docker network rm net1; docker volume rm data
`
	assert.Equal(t, want, b.String())

	b.Reset()
	require.NoError(t, Report(&b, []KeptInfo{{Ref: Ref{Volume, "v1"}, Name: "data", Labelled: true}}))
	assert.Contains(t, b.String(), "remove every kept resource of every run: "+RemoveAllKeptCommand)
}

// In keep mode a test process's resources survive its end, its watchdog and a later
// sweep, and the report says how to get in and how to remove them.
func TestKeepModeLeavesResources(t *testing.T) {
	e := mustHaveEngine(t)
	for _, c := range []struct {
		mode     string
		wantErr  string
		labelled bool
	}{
		{mode: "failed", wantErr: "exit status 1"},
		{mode: "always", labelled: true},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			h := startHelper(t, "keep", []string{EnvKeep + "=" + c.mode})
			filter := sessionFilter(h.Session)
			t.Cleanup(func() { removeLabelled(t, e, filter) })
			err, out := h.wait(t)
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr, out)
			} else {
				require.NoError(t, err, out)
			}
			// The watchdog has done its work once it has exited.
			waitProcessGone(t, h.Watchdog, time.Minute)
			s := h.Stack
			require.ElementsMatch(t, s.refs(), refsOf(ctx, t, e, filter), "kept resources after the watchdog ran\n%s", out)

			swept, err := Sweep(ctx, e)
			if err != nil {
				t.Logf("sweep: %v", err) // others' resources may be mid-removal
			}
			for _, r := range s.refs() {
				assert.NotContains(t, swept, r, "the sweep took a kept resource")
			}
			require.ElementsMatch(t, s.refs(), refsOf(ctx, t, e, filter), "kept resources after a sweep")

			infos, err := Describe(ctx, s.refs()...)
			require.NoError(t, err)
			for _, i := range infos {
				assert.Equal(t, c.labelled, i.Labelled, "%v labelled kept", i.Ref)
			}
			for _, want := range []string{
				"kept 1 container, 1 network, 1 volume for debugging (CONTAINERTEST_KEEP=" + c.mode + ")",
				"container " + s.ContainerName + "\n",
				"image:    " + testImage,
				"state:    running",
				"get in:   docker exec -it " + s.ContainerName + " sh",
				"logs:     docker logs -f " + s.ContainerName,
				"remove them: docker rm -f -v " + s.ContainerName + "; docker network rm " + s.NetworkName +
					"; docker volume rm " + s.VolumeName,
			} {
				assert.Contains(t, out, want)
			}
			assert.Regexp(t, `network:  `+regexp.QuoteMeta(s.NetworkName)+` ip \d+\.\d+\.\d+\.\d+ aliases svc\n`, out)
			assert.Regexp(t, `endpoint: 8080/tcp -> `+regexp.QuoteMeta(e.Host)+`:\d+\n`, out)
			if c.labelled {
				assert.Contains(t, out, RemoveAllKeptCommand)
			}

			// The printed command removes them all. (Not the label-wide one: it would
			// take other runs' kept resources too.)
			if _, err := exec.LookPath("docker"); err != nil {
				t.Skip("no docker CLI to run the printed command")
			}
			_, cmd, ok := strings.Cut(out, "remove them: ")
			require.True(t, ok)
			cmd, _, _ = strings.Cut(cmd, "\n")
			b, err := exec.CommandContext(ctx, "sh", "-c", cmd).CombinedOutput()
			require.NoError(t, err, "%s:\n%s", cmd, b)
			waitGone(t, e, filter, 5*time.Second)
		})
	}
}

// A resource kept because its test failed survives the sweep of a process that uses
// another cache directory than its creator did (a test that sets
// CONTAINERTEST_CACHE_DIR, a child run with HOME unset, or the other way round): the
// marker is found from the resource's label, not from the sweeper's own directory.
func TestKeptSurvivesSweepWithAnotherCacheDir(t *testing.T) {
	e := mustHaveEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	creatorDir := t.TempDir()
	h := startHelper(t, "keep", []string{EnvKeep + "=failed", EnvCacheDir + "=" + creatorDir})
	filter := sessionFilter(h.Session)
	t.Cleanup(func() { removeLabelled(t, e, filter) })
	err, out := h.wait(t)
	require.ErrorContains(t, err, "exit status 1", out)
	waitProcessGone(t, h.Watchdog, time.Minute)
	s := h.Stack
	require.ElementsMatch(t, s.refs(), refsOf(ctx, t, e, filter), "kept resources after the watchdog ran\n%s", out)
	for _, r := range s.refs() {
		name, err := r.marker()
		require.NoError(t, err)
		require.FileExists(t, filepath.Join(creatorDir, "reaper", "kept", name), "marker of %v", r)
	}

	for _, sweeper := range []struct{ name, dir string }{
		{"another cache dir", t.TempDir()},
		{"the default cache dir", ""},
	} {
		t.Setenv(EnvCacheDir, sweeper.dir)
		swept, err := Sweep(ctx, e)
		if err != nil {
			t.Logf("sweep: %v", err) // others' resources may be mid-removal
		}
		for _, r := range s.refs() {
			assert.NotContains(t, swept, r, "a sweep with %s took a kept resource", sweeper.name)
		}
		require.ElementsMatch(t, s.refs(), refsOf(ctx, t, e, filter), "kept resources after a sweep with %s", sweeper.name)
	}
}

// The marker directory a resource's label names decides whether it is kept: a marker
// there keeps it, none does not, and a directory that cannot be read keeps it (a
// resource is never removed on a guess).
func TestKeptByLabelledMarkerDir(t *testing.T) {
	dir := t.TempDir()
	r := Ref{Container, strings.Repeat("a", 64)}
	res := resource{Ref: r, Labels: map[string]string{LabelMarkerDir: dir}}
	assert.False(t, res.kept(nil), "no marker")
	name, err := r.marker()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	assert.True(t, res.kept(nil), "marker in the labelled dir")
	other := resource{Ref: Ref{Container, strings.Repeat("b", 64)}, Labels: res.Labels}
	assert.False(t, other.kept(nil), "another resource's marker")
	assert.False(t, resource{Ref: r, Labels: map[string]string{LabelMarkerDir: "relative/dir"}}.kept(nil),
		"a relative marker dir names nothing")
	// A marker dir that cannot be looked into (unsearchable, or not a directory: the
	// former cannot be made for root) keeps the resource.
	notDir := filepath.Join(dir, name)
	assert.True(t, resource{Ref: r, Labels: map[string]string{LabelMarkerDir: notDir}}.kept(nil),
		"marker dir that is not a directory")
	if os.Getuid() != 0 {
		locked := t.TempDir()
		require.NoError(t, os.Chmod(locked, 0))
		t.Cleanup(func() { os.Chmod(locked, 0o755) })
		assert.True(t, resource{Ref: r, Labels: map[string]string{LabelMarkerDir: locked}}.kept(nil),
			"unsearchable marker dir")
	}

	t.Setenv(EnvCacheDir, dir)
	t.Setenv(EnvKeep, "failed")
	assert.Equal(t, filepath.Join(dir, "reaper", "kept"), Labels()[LabelMarkerDir])
	t.Setenv(EnvKeep, "always")
	assert.NotContains(t, Labels(), LabelMarkerDir, "labelled kept already")
}
