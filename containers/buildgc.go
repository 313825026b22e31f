package containers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distribution/reference"

	"github.com/containertest/containertest/internal/buildcache"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	"github.com/containertest/containertest/internal/engine/docker/image"
)

// Build cache hygiene: after every build it sent to the engine, a process evicts cached
// images that no Build is likely to ask for again, so that the cache stays bounded
// without anyone calling PruneBuildCache:
//
//   - superseded: an image of the same source (context directory, Dockerfile, target,
//     platform, build args and labels: the same Build call, with other file contents)
//     that is not the most recently used one, unused for supersededGrace;
//   - orphaned: an image built on this host from a context directory that no longer
//     exists (a temporary context), unused for orphanGrace;
//   - replaced: an image a NoCache rebuild left without a tag (see replacedImage);
//   - over the bound: beyond CONTAINERTEST_BUILD_CACHE_MAX images (default 200), the
//     least recently used ones, unused for boundMinAge.
//
// An image a container uses is never removed (the engine refuses), nor the one just
// built. Eviction is best effort: a failure is logged, never fails the build.

// Labels that identify where a cached image came from (for eviction; not in the key).
const (
	labelBuildSource  = engine.LabelPrefix + "build-source"
	labelBuildContext = engine.LabelPrefix + "build-context"
	labelBuildHost    = engine.LabelPrefix + "build-host"
)

// Defaults of the eviction policy.
const (
	supersededGrace   = time.Hour
	orphanGrace       = time.Minute
	boundMinAge       = 10 * time.Minute
	defaultBuildCache = 200
	envBuildCacheMax  = "CONTAINERTEST_BUILD_CACHE_MAX"
)

// buildCacheMax returns the bound on cached images from CONTAINERTEST_BUILD_CACHE_MAX.
func buildCacheMax() (int, error) {
	v := strings.TrimSpace(os.Getenv(envBuildCacheMax))
	if v == "" {
		return defaultBuildCache, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive number of images", envBuildCacheMax, v)
	}
	return n, nil
}

// source identifies a Build call apart from the files of its context: builds of one
// source with other keys supersede each other.
func (b *buildSpec) source() string {
	h := sha256.New()
	w := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	if b.tarName != "" {
		w("tar:" + b.tarName) // its directory is a new temporary one each time
	} else {
		w(b.contextDir)
	}
	w(b.dockerfile)
	w(b.target)
	w(b.platform)
	for _, k := range slices.Sorted(maps.Keys(b.args)) {
		w(k)
		if v := b.args[k]; v != nil {
			w("=" + *v)
		} else {
			w("unset")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.labels)) {
		w(k)
		w(b.labels[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// sourceLabels are the labels a build adds for eviction.
func (b *buildSpec) sourceLabels() map[string]string {
	l := map[string]string{
		labelBuildSource: b.source(),
		labelBuildHost:   engine.HostName(),
	}
	if b.tarName == "" { // an unpacked archive's directory is gone after the build
		l[labelBuildContext] = b.contextDir
	}
	return l
}

// cacheImage is what eviction knows about a cached image.
type cacheImage struct {
	id       string
	tags     []string // containertest/ tags; none when a NoCache rebuild replaced it
	key      string
	source   string
	dir      string
	host     string
	created  time.Time // whole seconds, as the engine records it
	lastUsed time.Time
}

// replacedImage reports whether img, which has no containertest/ tag, is one a NoCache
// rebuild replaced: it carries every label a finished build gives (the source label
// included), and a tagged image of the same key was created no earlier. An untagged
// image carrying the build key is not always a replaced one: the classic builder adds
// the labels as the last steps of a build and each step leaves an untagged image, so
// while a build runs its last image has the key of a build no tag points at yet (or,
// for a NoCache rebuild, only an older image does). Removing that image fails the build
// ("failed to get digest"): such images are never candidates.
func replacedImage(img cacheImage, all []cacheImage) bool {
	if len(img.tags) > 0 || img.key == "" || img.source == "" {
		return false
	}
	for _, o := range all {
		if o.id != img.id && o.key == img.key && len(o.tags) > 0 && !o.created.Before(img.created) {
			return true
		}
	}
	return false
}

type evictionPolicy struct {
	now        time.Time
	superseded time.Duration
	orphan     time.Duration
	minAge     time.Duration
	max        int
	host       string
	keep       string // the key just built
	exists     func(dir string) bool
}

// eviction pairs an image with why it goes.
type eviction struct {
	img    cacheImage
	reason string
}

// planEviction returns the images to evict, by the rules above.
func planEviction(imgs []cacheImage, p evictionPolicy) []eviction {
	var out []eviction
	gone := map[string]bool{}
	evict := func(img cacheImage, reason string) {
		if img.key == p.keep || gone[img.id] {
			return
		}
		gone[img.id] = true
		out = append(out, eviction{img, reason})
	}
	age := func(img cacheImage) time.Duration { return p.now.Sub(img.lastUsed) }
	byUse := slices.Clone(imgs)
	for i := range byUse {
		// The image just built is the newest of its source, whatever its creation time
		// says: the engine records that in whole seconds, and the image it supersedes
		// may have been used later within the same second.
		if byUse[i].key == p.keep {
			byUse[i].lastUsed = p.now
		}
	}
	slices.SortStableFunc(byUse, func(a, b cacheImage) int { return b.lastUsed.Compare(a.lastUsed) })

	newest := map[string]cacheImage{}
	for _, img := range byUse {
		switch {
		case len(img.tags) == 0:
			if replacedImage(img, imgs) {
				evict(img, "replaced by a NoCache rebuild")
			}
		case img.source != "":
			if cur, ok := newest[img.source]; !ok {
				newest[img.source] = img
			} else if age(img) >= p.superseded {
				evict(img, "superseded by "+cur.tags[0])
			}
		}
	}
	checked := map[string]bool{}
	for _, img := range byUse {
		if img.dir == "" || img.host != p.host || gone[img.id] || age(img) < p.orphan {
			continue
		}
		exists, ok := checked[img.dir]
		if !ok {
			exists = p.exists(img.dir)
			checked[img.dir] = exists
		}
		if !exists {
			evict(img, "its context "+img.dir+" is gone")
		}
	}
	left := 0
	for _, img := range byUse {
		if !gone[img.id] {
			left++
		}
	}
	for i := len(byUse) - 1; i >= 0 && left > p.max; i-- {
		img := byUse[i]
		if gone[img.id] || img.key == p.keep || age(img) < p.minAge {
			continue
		}
		evict(img, fmt.Sprintf("more than %d cached images (%s)", p.max, envBuildCacheMax))
		left--
	}
	return out
}

// testHookEvictScope, when a test sets it, limits eviction to the images built from
// the context directories it accepts, with no grace: the project's tests share an
// engine with other suites' caches and must evict only their own images.
var testHookEvictScope atomic.Pointer[func(dir string) bool]

// evictBuildCache runs the eviction after a build of key; see the rules above.
func evictBuildCache(ctx context.Context, eng *engine.Engine, keep string, logf func(string, ...any)) error {
	max, err := buildCacheMax()
	if err != nil {
		return err
	}
	list, err := eng.Client.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelBuildKey))})
	if err != nil {
		return fmt.Errorf("list cached images: %w", err)
	}
	p := evictionPolicy{
		now: time.Now(), superseded: supersededGrace, orphan: orphanGrace, minAge: boundMinAge,
		max: max, host: engine.HostName(), keep: keep,
		exists: func(dir string) bool {
			_, err := os.Stat(dir)
			return !errors.Is(err, fs.ErrNotExist)
		},
	}
	scope := testHookEvictScope.Load()
	if scope != nil {
		p.superseded, p.orphan, p.minAge = 0, 0, 0
	}
	var imgs []cacheImage
	for _, img := range cacheImages(list) {
		if scope != nil && (img.dir == "" || !(*scope)(img.dir)) {
			continue
		}
		imgs = append(imgs, img)
	}
	var errs []error
	for _, ev := range planEviction(imgs, p) {
		// Used since the list was read (a cache hit in another process): keep it.
		if scope == nil && len(ev.img.tags) > 0 && time.Since(lastUsed(ev.img.key, 0)) < p.minAge {
			continue
		}
		refs := ev.img.tags
		if len(refs) == 0 {
			refs = []string{ev.img.id}
		}
		removed := false
		for _, ref := range refs {
			_, err := eng.Client.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
			switch {
			case err == nil:
				removed = true
			case errdefs.IsConflict(err) || errdefs.IsNotFound(err):
				// In use by a container, or removed by someone else.
			default:
				errs = append(errs, fmt.Errorf("evict %s: %w", ref, err))
			}
		}
		if removed {
			logf("containers: build cache: evicted %s: %s", cmp.Or(strings.Join(ev.img.tags, ", "), shortID(ev.img.id)), ev.reason)
			if len(ev.img.tags) > 0 {
				_ = buildcache.Forget(ev.img.key)
			}
		}
	}
	return errors.Join(errs...)
}

// cacheImages turns the engine's list of images with a build key into what eviction
// knows of them, leaving out those only the user's own tags (BuildTag) point at: they
// are not the cache's any more.
func cacheImages(list []image.Summary) []cacheImage {
	var imgs []cacheImage
	for _, s := range list {
		img := cacheImage{
			id: s.ID, key: s.Labels[labelBuildKey], source: s.Labels[labelBuildSource],
			dir: s.Labels[labelBuildContext], host: s.Labels[labelBuildHost],
			created: time.Unix(s.Created, 0),
		}
		for _, t := range s.RepoTags {
			if t := familiarTag(t); strings.HasPrefix(t, "containertest/") {
				img.tags = append(img.tags, t)
			}
		}
		if len(img.tags) == 0 && !dangling(s.RepoTags) {
			continue
		}
		img.lastUsed = lastUsed(img.key, s.Created)
		imgs = append(imgs, img)
	}
	return imgs
}

// familiarTag is tag as Build names it: podman lists containertest/x:1 as
// docker.io/containertest/x:1. A tag that does not parse is returned as it is.
func familiarTag(tag string) string {
	named, err := reference.ParseNormalizedNamed(tag)
	if err != nil {
		return tag
	}
	return reference.FamiliarString(named)
}

// lastUsed is when the image of key was last used, or created (Unix seconds) when no
// use was recorded.
func lastUsed(key string, created int64) time.Time {
	if t, ok := buildcache.LastUsed(key); ok {
		return t
	}
	return time.Unix(created, 0)
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
