// Package nat names, as aliases, what the framework uses of the Docker SDK's
// nat package: container ports and their bindings to host ports (see package docker).
package nat

import upstream "github.com/docker/go-connections/nat"

// The types of the SDK's nat package that the framework uses.
type (
	Port        = upstream.Port
	PortBinding = upstream.PortBinding
	PortMap     = upstream.PortMap
	PortSet     = upstream.PortSet
)
