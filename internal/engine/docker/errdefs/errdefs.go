// Package errdefs names, as aliases, what the framework uses of the Docker SDK's
// errdefs package: the classes of the engine's errors (see package docker).
package errdefs

import upstream "github.com/docker/docker/errdefs"

// The functions of the SDK's errdefs package that the framework uses.
var (
	IsConflict = upstream.IsConflict
	IsNotFound = upstream.IsNotFound
)
