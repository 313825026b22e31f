package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/go-archive"

	"github.com/containertest/containertest/internal/buildcache"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/image"
)

// ErrPlatformMismatch is wrapped when the local image of an Image spec is not of the
// platform the spec asks for.
var ErrPlatformMismatch = errors.New("image platform mismatch")

// checkImagePlatform makes sure the local image ref is of platform, pulling that
// platform first when the policy says so or when the image is missing.
func checkImagePlatform(ctx context.Context, eng *engine.Engine, ref, platform string, policy PullPolicy) error {
	want, err := buildcache.ParsePlatform(platform)
	if err != nil {
		return err
	}
	want = platforms.Normalize(want)
	ins, err := localImage(ctx, eng, ref, policy, platforms.Format(want))
	if err != nil {
		return err
	}
	got := platforms.Normalize(platforms.Platform{OS: ins.Os, Architecture: ins.Architecture, Variant: ins.Variant})
	if got.OS != want.OS || got.Architecture != want.Architecture || (want.Variant != "" && got.Variant != want.Variant) {
		return fmt.Errorf("image %s: %w: the engine has it for %s, the spec asks for %s (Platform)",
			ref, ErrPlatformMismatch, platforms.Format(got), platforms.Format(want))
	}
	return nil
}

// localImage inspects the image ref after pulling it as policy says: first with
// PullAlways, when it is missing otherwise, never with PullNever. platform ("" for the
// engine's) is the platform a pull asks for.
func localImage(ctx context.Context, eng *engine.Engine, ref string, policy PullPolicy, platform string) (image.InspectResponse, error) {
	if policy == PullAlways {
		if err := pullImagePlatform(ctx, eng, ref, platform); err != nil {
			return image.InspectResponse{}, fmt.Errorf("pull image %s: %w", ref, err)
		}
	}
	ins, err := eng.Client.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) && policy != PullAlways && policy != PullNever {
		if perr := pullImagePlatform(ctx, eng, ref, platform); perr != nil {
			return image.InspectResponse{}, missingImageError(ref, perr)
		}
		ins, err = eng.Client.ImageInspect(ctx, ref)
	}
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return image.InspectResponse{}, fmt.Errorf("image %s not found locally and the pull policy is PullNever: build or load it first: %w: %w", ref, ErrImageNotFound, err)
		}
		return image.InspectResponse{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return ins, nil
}

// envImagePrefix names the registry mirror that Docker Hub images are pulled through.
const envImagePrefix = "CONTAINERTEST_IMAGE_PREFIX"

// SubstituteImage makes the spec start the image f returns for its image reference,
// instead of the reference itself: a registry mirror, a pinned digest. f runs at each
// Start and Run, with the reference given to Image; an error or an empty result fails
// the start, naming the reference. It replaces the CONTAINERTEST_IMAGE_PREFIX rule for
// this spec. It applies to Image specs only (a Build's FROM lines are the Dockerfile's).
func (s Spec) SubstituteImage(f func(ref string) (string, error)) Spec {
	if f == nil {
		return s.fail(errors.New("substitute image: nil function"))
	}
	if s.build != nil {
		return s.fail(errors.New("substitute image: the spec is a Build spec (its image is built, not pulled)"))
	}
	s.substitute = f
	return s
}

// imageRef returns the reference an Image spec starts: the spec's SubstituteImage
// function's, else with CONTAINERTEST_IMAGE_PREFIX before a Docker Hub reference
// ("busybox:latest" becomes "PREFIX/library/busybox:latest"; references with a
// registry host stay as they are), else the reference itself.
func (s Spec) imageRef() (string, error) {
	if s.substitute != nil {
		ref, err := s.substitute(s.image)
		if err != nil {
			return "", fmt.Errorf("substitute image %s: %w", s.image, err)
		}
		if _, perr := reference.ParseNormalizedNamed(ref); perr != nil {
			return "", fmt.Errorf("substitute image %s: the function returned %q: %w", s.image, ref, perr)
		}
		return ref, nil
	}
	return prefixImage(s.image, os.Getenv(envImagePrefix))
}

// prefixImage puts prefix (a registry host and optional path) before a Docker Hub
// reference.
func prefixImage(ref, prefix string) (string, error) {
	prefix = strings.TrimSuffix(strings.TrimSpace(prefix), "/")
	if prefix == "" {
		return ref, nil
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref, nil // the engine names what is wrong with it
	}
	if reference.Domain(named) != "docker.io" {
		return ref, nil
	}
	out := prefix + "/" + reference.Path(named)
	if t, ok := named.(reference.Tagged); ok {
		out += ":" + t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		out += "@" + d.Digest().String()
	}
	// A prefix must begin with a registry host: "hub" alone would name a Docker Hub user.
	if _, err := reference.ParseNamed(prefix + "/library/x"); err != nil {
		return "", fmt.Errorf("%s=%q: want a registry host with an optional path, such as mirror.example.com/hub", envImagePrefix, prefix)
	}
	return out, nil
}

// BuildTag also tags the built image as ref ("repo:tag"; ":latest" when no tag is
// given), besides the cache's own tag, each time the spec is started; the tag moves
// to the newest build. Build cache eviction and PruneBuildCache never remove an image
// under such a name: they remove only the cache's tags. A digest, or a name in the
// cache's own containertest/ repository space, is an error.
func (s Spec) BuildTag(ref string) Spec {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return s.fail(fmt.Errorf("build tag %q: %w", ref, err))
	}
	if _, ok := named.(reference.Digested); ok {
		return s.fail(fmt.Errorf("build tag %q: a digest cannot be given to an image", ref))
	}
	if strings.HasPrefix(reference.FamiliarName(named), "containertest/") {
		return s.fail(fmt.Errorf("build tag %q: containertest/ names are the build cache's own", ref))
	}
	full := reference.FamiliarString(reference.TagNameOnly(named))
	return s.withBuild("build tag", func(b *buildSpec) {
		b.tags = append(append([]string(nil), b.tags...), full)
	})
}

// BuildOutput copies the build's progress, the lines that go to the test log (each
// step, cached or done, and the output of RUN steps), to w as well, one line per
// Write. A build shared with other callers writes to each of them from when it
// joined; a cache hit writes one line that names the cached image.
func (s Spec) BuildOutput(w io.Writer) Spec {
	if w == nil {
		return s.fail(errors.New("build output: nil writer"))
	}
	return s.withBuild("build output", func(b *buildSpec) { b.output = w })
}

var tarContextName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// BuildTar returns a Spec for a container of the image built from an in-memory build
// context: tarball is a tar archive (optionally gzip, bzip2 or xz compressed) of the
// context, with the Dockerfile at its root unless Dockerfile says otherwise. name
// (lower-case letters, digits, '.', '_', '-') names the cached image
// (containertest/NAME:KEY) and says which builds supersede each other in the cache. The
// image is cached by content as for Build; the archive is unpacked into a temporary
// directory for each build and removed after. Entries that would land outside the
// context fail the build.
func BuildTar(name string, tarball []byte) Spec {
	s := Spec{build: &buildSpec{tarName: name, tarData: bytes.Clone(tarball)}}
	if !tarContextName.MatchString(name) {
		return s.fail(fmt.Errorf("build tar: invalid name %q: want [a-z0-9][a-z0-9._-]*", name))
	}
	if len(tarball) == 0 {
		return s.fail(fmt.Errorf("build tar %s: empty archive", name))
	}
	return s
}

// unpackTar unpacks the in-memory context into a new temporary directory named after
// it, and returns that directory and a function that removes it.
func (b *buildSpec) unpackTar() (string, func(), error) {
	tmp, err := os.MkdirTemp("", "containertest-tar-")
	if err != nil {
		return "", nil, fmt.Errorf("build tar %s: %w", b.tarName, err)
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	dir := filepath.Join(tmp, b.tarName)
	if err := os.Mkdir(dir, 0o755); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build tar %s: %w", b.tarName, err)
	}
	opts := &archive.TarOptions{NoLchown: true}
	if err := archive.Untar(bytes.NewReader(b.tarData), dir, opts); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build tar %s: unpack the archive: %w", b.tarName, err)
	}
	return dir, cleanup, nil
}
