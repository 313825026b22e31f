package containers

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strings"

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
