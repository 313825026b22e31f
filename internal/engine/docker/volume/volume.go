// Package volume names, as aliases, what the framework uses of the Docker SDK's
// volume package: volumes: options of the calls about them (see package docker).
package volume

import upstream "github.com/docker/docker/api/types/volume"

// The types of the SDK's volume package that the framework uses.
type (
	CreateOptions = upstream.CreateOptions
	ListOptions   = upstream.ListOptions
)
