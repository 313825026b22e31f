// Package build names, as aliases, what the framework uses of the Docker SDK's
// build package: image builds: the options of a build and the builder versions (see package docker).
package build

import upstream "github.com/docker/docker/api/types/build"

// The types of the SDK's build package that the framework uses.
type (
	ImageBuildOptions = upstream.ImageBuildOptions
)

// The constants of the SDK's build package that the framework uses.
const (
	BuilderBuildKit = upstream.BuilderBuildKit
	BuilderV1       = upstream.BuilderV1
)
