package containers_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/internal/reaper"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

func reuseSpec(tag string) containers.Spec {
	return containers.Image(busybox).Cmd("sleep", "600").Label("reusetest", tag).
		File("/etc/motd", []byte("hi\n"), 0o644).Reuse().WaitFor()
}

// removeLabelled removes the containers of this test's tag when the test ends.
func removeLabelled(t *testing.T, tag string) {
	t.Cleanup(func() {
		eng, err := engine.Get(context.Background())
		if err != nil {
			return
		}
		for _, c := range labelled(t, "reusetest", tag) {
			_ = eng.Client.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	})
}

func TestReuseHandsTheSameContainerToTheSameSpec(t *testing.T) {
	containers.RequireDocker(t)
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	tag := fmt.Sprintf("same-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	var first string
	t.Run("first", func(t *testing.T) {
		first = reuseSpec(tag).Start(t).ID()
	})
	require.Len(t, labelled(t, "reusetest", tag), 1, "the test's cleanup removed a reused container")
	t.Run("second", func(t *testing.T) {
		c := reuseSpec(tag).Start(t)
		assert.Equal(t, first, c.ID(), "the same spec got another container")
		r, err := c.Exec(t.Context(), "cat", "/etc/motd")
		require.NoError(t, err)
		assert.Equal(t, "hi\n", r.Stdout)
	})
	t.Run("changed", func(t *testing.T) {
		for _, s := range []containers.Spec{
			reuseSpec(tag).Env("X", "1"),
			reuseSpec(tag).File("/etc/motd", []byte("ho\n"), 0o644),
			reuseSpec(tag).Cmd("sleep", "601"),
			reuseSpec(tag).Memory(64 << 20),
		} {
			assert.NotEqual(t, first, s.Start(t).ID(), "a changed spec got the old container")
		}
	})
	assert.Len(t, labelled(t, "reusetest", tag), 5)
}

func TestReuseRefusesUnsafeSpecs(t *testing.T) {
	containers.RequireDocker(t)
	net := network.New(t)
	vol := volume.New(t)
	for name, s := range map[string]containers.Spec{
		"Named":   reuseSpec("refused").Named("mine"),
		"network": reuseSpec("refused").On(net, "db"),
		"volume":  reuseSpec("refused").Mount(vol, "/data"),
	} {
		c, err := s.Run(t.Context())
		require.ErrorIs(t, err, containers.ErrNotReusable, name)
		assert.ErrorContains(t, err, name)
		assert.Nil(t, c)
	}
	assert.Empty(t, labelled(t, "reusetest", "refused"))
}

func TestReuseOffGivesEachTestItsOwn(t *testing.T) {
	containers.RequireDocker(t)
	t.Setenv("CONTAINERTEST_REUSE", "off")
	tag := fmt.Sprintf("off-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	t.Run("a", func(t *testing.T) {
		c := reuseSpec(tag).Start(t)
		info, err := c.Inspect(t.Context())
		require.NoError(t, err)
		_ = info
	})
	assert.Empty(t, labelled(t, "reusetest", tag), "with reuse off the container must go with its test")

	t.Setenv("CONTAINERTEST_REUSE", "sometimes")
	_, err := reuseSpec(tag).Run(t.Context())
	require.ErrorContains(t, err, "CONTAINERTEST_REUSE")
	t.Setenv("CONTAINERTEST_REUSE", "")
	t.Setenv("CONTAINERTEST_REUSE_TTL", "-1h")
	_, err = reuseSpec(tag).Run(t.Context())
	require.ErrorContains(t, err, "CONTAINERTEST_REUSE_TTL")
}

// TestHelperReuseProcess starts a reused container and prints its id.
func TestHelperReuseProcess(t *testing.T) {
	tag := os.Getenv("CONTAINERTEST_REUSE_HELPER")
	if tag == "" {
		t.Skip("helper for the cross-process reuse tests")
	}
	c := reuseSpec(tag).Start(t)
	fmt.Printf("REUSED=%s\n", c.ID())
}

func runReuseHelper(t *testing.T, tag, cacheDir string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReuseProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CONTAINERTEST_REUSE_HELPER="+tag, "CONTAINERTEST_CACHE_DIR="+cacheDir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "REUSED="); ok {
			return v
		}
	}
	t.Fatalf("the helper printed no id:\n%s", out)
	return ""
}

// Two processes racing for one spec get one container, which outlives both (their
// watchdogs leave it alone) and expires once idle for CONTAINERTEST_REUSE_TTL.
func TestReuseAcrossProcessesRaceAndExpiry(t *testing.T) {
	containers.RequireDocker(t)
	cacheDir := t.TempDir()
	t.Setenv("CONTAINERTEST_CACHE_DIR", cacheDir)
	tag := fmt.Sprintf("race-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	ids := make([]string, 2)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i] = runReuseHelper(t, tag, cacheDir) })
	}
	wg.Wait()
	require.Equal(t, ids[0], ids[1], "two racing processes got two containers")
	time.Sleep(time.Second) // the helpers' watchdogs have had their chance to do harm
	list := labelled(t, "reusetest", tag)
	require.Len(t, list, 1)
	assert.Equal(t, "running", list[0].State)
	assert.Equal(t, ids[0], runReuseHelper(t, tag, cacheDir), "a later process got another container")

	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	removed, err := reaper.SweepExpiredReused(t.Context(), eng)
	require.NoError(t, err)
	assert.NotContains(t, removed, ids[0], "a container used just now expired")
	require.Len(t, labelled(t, "reusetest", tag), 1)

	t.Setenv("CONTAINERTEST_REUSE_TTL", "1ms")
	time.Sleep(10 * time.Millisecond)
	removed, err = reaper.SweepExpiredReused(t.Context(), eng)
	require.NoError(t, err)
	assert.Contains(t, removed, ids[0])
	assert.Empty(t, labelled(t, "reusetest", tag), "the idle container did not expire")
}

// A process that only finds a reused container makes nothing a watchdog would remove,
// so it starts none: waiting for one was most of what a reuse cost.
func TestReuseHitStartsNoWatchdog(t *testing.T) {
	containers.RequireDocker(t)
	cacheDir := t.TempDir()
	tag := fmt.Sprintf("nowatchdog-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	// Each watchdog writes a log named after its session; a sweep removes those of
	// dead sessions.
	watchdogLogs := func() map[string]bool {
		ents, err := os.ReadDir(filepath.Join(cacheDir, "reaper", "log"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		logs := map[string]bool{}
		for _, e := range ents {
			logs[e.Name()] = true
		}
		return logs
	}
	id := runReuseHelper(t, tag, cacheDir)
	first := watchdogLogs()
	if len(first) != 1 {
		t.Fatalf("the process that created the reused container started %d watchdogs; want 1", len(first))
	}
	assert.Equal(t, id, runReuseHelper(t, tag, cacheDir), "a later process got another container")
	for name := range watchdogLogs() {
		assert.True(t, first[name], "a process that only reused started a watchdog (%s)", name)
	}
	list := labelled(t, "reusetest", tag)
	require.Len(t, list, 1)
	assert.Equal(t, "running", list[0].State)
}

// A reused container made under CONTAINERTEST_KEEP=failed carries the kept marker's
// directory as well as the keep label: the sweeps of other processes, whatever their
// cache directory, leave it alone, and RemoveReused still removes it.
func TestReuseUnderKeepFailed(t *testing.T) {
	containers.RequireDocker(t)
	cacheDir := t.TempDir()
	t.Setenv("CONTAINERTEST_CACHE_DIR", cacheDir)
	t.Setenv("CONTAINERTEST_KEEP", "failed")
	tag := fmt.Sprintf("keepfailed-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	id := reuseSpec(tag).Start(t).ID()
	list := labelled(t, "reusetest", tag)
	require.Len(t, list, 1)
	assert.Equal(t, id, list[0].ID)
	assert.Contains(t, list[0].Labels, engine.LabelKeep)
	assert.Contains(t, list[0].Labels, reaper.LabelMarkerDir)

	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	t.Setenv("CONTAINERTEST_KEEP", "")
	for _, dir := range []string{"", t.TempDir()} {
		t.Setenv("CONTAINERTEST_CACHE_DIR", dir)
		swept, err := reaper.Sweep(t.Context(), eng)
		if err != nil {
			t.Logf("sweep: %v", err) // others' resources may be mid-removal
		}
		assert.NotContains(t, swept, reaper.Ref{Kind: reaper.Container, ID: id}, "a sweep took a reused container")
	}
	require.Len(t, labelled(t, "reusetest", tag), 1)

	t.Setenv("CONTAINERTEST_CACHE_DIR", cacheDir)
	n, err := containers.RemoveReused(t.Context())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1)
	assert.Empty(t, labelled(t, "reusetest", tag))
}

// A container this process uses does not expire under it, however short the TTL.
func TestReuseInUseDoesNotExpire(t *testing.T) {
	containers.RequireDocker(t)
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	tag := fmt.Sprintf("inuse-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	c := reuseSpec(tag).Start(t)
	t.Setenv("CONTAINERTEST_REUSE_TTL", "1ms")
	time.Sleep(10 * time.Millisecond)
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	removed, err := reaper.SweepExpiredReused(t.Context(), eng)
	require.NoError(t, err)
	assert.NotContains(t, removed, c.ID())
	require.Len(t, labelled(t, "reusetest", tag), 1)
}

// The match is on the image id: a tag moved to another image makes a new container.
func TestReuseMatchesImageIDNotTag(t *testing.T) {
	containers.RequireDocker(t)
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	eng, err := engine.Get(t.Context())
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/Dockerfile", []byte("FROM "+busybox+"\nLABEL reusetest.variant=b\n"), 0o644))
	other := containers.Build(dir).Cmd("true").WaitFor(wait.ForExit(0)).Start(t)
	otherInfo, err := other.Inspect(t.Context())
	require.NoError(t, err)

	tag := fmt.Sprintf("idtag-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	ref := "containertest/reusetag:" + tag
	require.NoError(t, eng.Client.ImageTag(t.Context(), busybox, ref))
	t.Cleanup(func() { _, _ = eng.Client.ImageRemove(context.Background(), ref, image.RemoveOptions{}) })
	spec := containers.Image(ref).Pull(containers.PullNever).Cmd("sleep", "600").Label("reusetest", tag).Reuse().WaitFor()
	first := spec.Start(t).ID()
	assert.Equal(t, first, spec.Start(t).ID())

	require.NoError(t, eng.Client.ImageTag(t.Context(), otherInfo.ImageID, ref))
	assert.NotEqual(t, first, spec.Start(t).ID(), "a tag moved to another image got the old container")
}

func TestRemoveReusedRemovesThemAll(t *testing.T) {
	containers.RequireDocker(t)
	t.Setenv("CONTAINERTEST_CACHE_DIR", t.TempDir())
	tag := fmt.Sprintf("all-%d", time.Now().UnixNano())
	removeLabelled(t, tag)
	reuseSpec(tag).Start(t)
	reuseSpec(tag).Env("A", "b").Start(t)
	require.Len(t, labelled(t, "reusetest", tag), 2)
	n, err := containers.RemoveReused(t.Context())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 2)
	assert.Empty(t, labelled(t, "reusetest", tag))
}
