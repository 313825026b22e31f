package containers

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/distribution/reference"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/versions"
)

// Paths, everywhere in this package: a host path (Bind, CopyDir, CopyDirTo, Build's
// context directory, BuildSecretFile) may be relative, and is resolved against the
// working directory of the process when the method is called, so that a later
// os.Chdir does not change what it names. A container path (a mount target, File,
// CopyTo, CopyFrom, CopyDirTo's target, WorkDir) must be absolute: a relative one is an
// error that names it, since a container has no working directory to resolve it
// against before it runs.

// absPath resolves a host path against the working directory.
func absPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty host path")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolve host path %q: %w", p, err)
	}
	return abs, nil
}

// ErrUnsupportedByEngine is wrapped when a spec asks for something the engine's API
// version does not have; the error names the version needed and the engine's.
var ErrUnsupportedByEngine = errors.New("not supported by the engine")

// imageMountAPI is the first engine API version with image mounts.
const imageMountAPI = "1.48"

// MountImage mounts the filesystem of the image ref (which must be present locally,
// e.g. built or pulled before), read-only, at target. Image mounts need an engine with
// API 1.48 or later (Docker 28): on an older one, Start and Run fail before anything is
// created, with ErrUnsupportedByEngine and the engine's API version.
func (s Spec) MountImage(ref, target string) Spec {
	if err := checkTarget(target); err != nil {
		return s.fail(fmt.Errorf("mount image %s: %w", ref, err))
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return s.fail(fmt.Errorf("mount image %q at %s: invalid image reference: %w", ref, target, err))
	}
	s.mounts = append(slices.Clip(s.mounts), mountSpec{kind: mountImage, source: ref, target: target, readOnly: true})
	return s
}

// checkEngineSupport fails a spec that needs a newer engine API than eng speaks.
func (s Spec) checkEngineSupport(eng *engine.Engine) error {
	var errs []error
	for _, m := range s.mounts {
		if m.kind == mountImage && versions.LessThan(eng.APIVersion, imageMountAPI) {
			errs = append(errs, fmt.Errorf("mount image %s at %s: %w: image mounts need engine API %s or later (Docker 28), the engine speaks API %s",
				m.source, m.target, ErrUnsupportedByEngine, imageMountAPI, eng.APIVersion))
		}
	}
	return errors.Join(errs...)
}
