// Package stdcopy names, as aliases, what the framework uses of the Docker SDK's
// stdcopy package: the demultiplexing of a container's stdout and stderr (see package docker).
package stdcopy

import upstream "github.com/docker/docker/pkg/stdcopy"

// The functions of the SDK's stdcopy package that the framework uses.
var (
	StdCopy = upstream.StdCopy
)
