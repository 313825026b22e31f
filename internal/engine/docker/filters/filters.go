// Package filters names, as aliases, what the framework uses of the Docker SDK's
// filters package: the filters of list and event calls (see package docker).
package filters

import upstream "github.com/docker/docker/api/types/filters"

// The types of the SDK's filters package that the framework uses.
type (
	Args = upstream.Args
)

// The functions of the SDK's filters package that the framework uses.
var (
	Arg     = upstream.Arg
	NewArgs = upstream.NewArgs
)
