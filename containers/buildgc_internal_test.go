package containers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/containertest/containertest/internal/engine/docker/image"
)

func TestPlanEviction(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	img := func(id, source, dir string, used time.Time) cacheImage {
		return cacheImage{id: id, tags: []string{"containertest/x:" + id}, key: "key-" + id, source: source, dir: dir, host: "me", lastUsed: used}
	}
	pol := evictionPolicy{
		now: now, superseded: time.Hour, orphan: time.Minute, minAge: 10 * time.Minute, max: 100, host: "me",
		exists: func(dir string) bool { return dir != "/gone" },
	}
	ids := func(evs []eviction) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.img.id)
		}
		slices.Sort(out)
		return out
	}

	t.Run("superseded after the grace period", func(t *testing.T) {
		imgs := []cacheImage{
			img("new", "s", "/app", ago(time.Minute)),
			img("old", "s", "/app", ago(2*time.Hour)),
			img("recent", "s", "/app", ago(30*time.Minute)), // may still be in use: kept
			img("other", "t", "/app", ago(3*time.Hour)),     // the newest of its source
		}
		evs := planEviction(imgs, pol)
		assert.Equal(t, []string{"old"}, ids(evs))
		assert.Equal(t, "superseded by containertest/x:new", evs[0].reason)
	})
	t.Run("the image just built supersedes one used after its creation time", func(t *testing.T) {
		// The engine's creation time has whole seconds: an image built right after the
		// previous one was used looks older than that use.
		p := pol
		p.superseded = 0
		p.keep = "key-built"
		imgs := []cacheImage{
			img("built", "s", "/app", ago(time.Second)),
			img("previous", "s", "/app", ago(300*time.Millisecond)),
		}
		evs := planEviction(imgs, p)
		assert.Equal(t, []string{"previous"}, ids(evs))
	})
	t.Run("the newest of a source stays however old", func(t *testing.T) {
		assert.Empty(t, planEviction([]cacheImage{img("a", "s", "/app", ago(1000*time.Hour))}, pol))
	})
	t.Run("orphaned context on this host", func(t *testing.T) {
		elsewhere := img("elsewhere", "u", "/gone", ago(time.Hour))
		elsewhere.host = "other"
		imgs := []cacheImage{
			img("orphan", "s", "/gone", ago(2*time.Minute)),
			img("fresh-orphan", "t", "/gone", ago(10*time.Second)),
			elsewhere,
			img("alive", "v", "/app", ago(time.Hour)),
		}
		evs := planEviction(imgs, pol)
		assert.Equal(t, []string{"orphan"}, ids(evs))
		assert.Equal(t, "its context /gone is gone", evs[0].reason)
	})
	t.Run("replaced by NoCache", func(t *testing.T) {
		r := img("replaced", "s", "/app", ago(time.Second))
		r.tags, r.created = nil, ago(time.Minute)
		cur := img("cur", "s", "/app", ago(time.Second))
		cur.key, cur.created = r.key, ago(time.Second)
		assert.Equal(t, []string{"replaced"}, ids(planEviction([]cacheImage{r, cur}, pol)))
		// Built within the same second as its replacement: still replaced.
		cur.created = r.created
		assert.Equal(t, []string{"replaced"}, ids(planEviction([]cacheImage{r, cur}, pol)))
	})
	t.Run("the last image of a build still running is not replaced", func(t *testing.T) {
		// The classic builder adds the labels as the last steps; each leaves an untagged
		// image with the build key. Removing it fails the build ("failed to get digest").
		running := img("running", "", "/app", ago(time.Second))
		running.tags, running.created = nil, ago(0)
		other := img("other", "s", "/app", ago(time.Hour)) // another source's image
		assert.Empty(t, planEviction([]cacheImage{running, other}, pol), "no image of its key yet")
		// Past the source label, for a NoCache rebuild of a key whose older image is tagged.
		running.source = "s"
		old := img("old", "s", "/app", ago(time.Hour))
		old.key, old.created = running.key, ago(time.Hour)
		assert.Empty(t, planEviction([]cacheImage{running, old}, pol), "only an older image of its key is tagged")
		// Without the source label, whatever image of its key is tagged.
		running.source, old.created = "", ago(0)
		assert.Empty(t, planEviction([]cacheImage{running, old}, pol), "no source label")
	})
	t.Run("count bound evicts the least recently used", func(t *testing.T) {
		var imgs []cacheImage
		for i := range 10 {
			imgs = append(imgs, img(fmt.Sprint(i), fmt.Sprint("s", i), "/app", ago(time.Duration(i+5)*time.Minute)))
		}
		p := pol
		p.max = 3
		// 0..4 were used less than 10 minutes ago: in flight, kept even over the bound.
		assert.Equal(t, []string{"5", "6", "7", "8", "9"}, ids(planEviction(imgs, p)))
		p.minAge = 0
		assert.Equal(t, []string{"3", "4", "5", "6", "7", "8", "9"}, ids(planEviction(imgs, p)))
		p.keep = "key-9"
		assert.Equal(t, []string{"2", "3", "4", "5", "6", "7", "8"}, ids(planEviction(imgs, p)))
	})
}

func TestBuildSource(t *testing.T) {
	v1, v2 := "1", "2"
	a := &buildSpec{contextDir: "/app", args: map[string]*string{"V": &v1}}
	b := &buildSpec{contextDir: "/app", args: map[string]*string{"V": &v2}}
	c := &buildSpec{contextDir: "/app", args: map[string]*string{"V": &v1}}
	assert.NotEqual(t, a.source(), b.source(), "build args make another source")
	assert.Equal(t, a.source(), c.source())
	assert.NotEqual(t, a.source(), (&buildSpec{contextDir: "/app", target: "x"}).source())
	assert.NotEqual(t, (&buildSpec{contextDir: "/a", dockerfile: "b"}).source(), (&buildSpec{contextDir: "/ab"}).source())
}

// Podman lists the cache's tags normalized (docker.io/containertest/x:1): they are
// still the cache's, and a user's own tag still is not.
func TestCacheImagesReadsNormalizedTags(t *testing.T) {
	list := []image.Summary{
		{ID: "a", RepoTags: []string{"docker.io/containertest/ctx:0123456789abcdef"}, Labels: map[string]string{labelBuildKey: "k1"}},
		{ID: "b", RepoTags: []string{"containertest/ctx:fedcba9876543210", "docker.io/acme/app:1"}, Labels: map[string]string{labelBuildKey: "k2"}},
		{ID: "c", RepoTags: []string{"docker.io/acme/app:2"}, Labels: map[string]string{labelBuildKey: "k3"}},
		{ID: "d", RepoTags: nil, Labels: map[string]string{labelBuildKey: "k4"}},
	}
	got := map[string][]string{}
	for _, img := range cacheImages(list) {
		got[img.id] = img.tags
	}
	assert.Equal(t, map[string][]string{
		"a": {"containertest/ctx:0123456789abcdef"},
		"b": {"containertest/ctx:fedcba9876543210"},
		"d": nil,
	}, got)
}
