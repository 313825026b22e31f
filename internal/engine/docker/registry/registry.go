// Package registry names, as aliases, what the framework uses of the Docker SDK's
// registry package: registry credentials as the engine takes them (see package docker).
package registry

import upstream "github.com/docker/docker/api/types/registry"

// The types of the SDK's registry package that the framework uses.
type (
	AuthConfig = upstream.AuthConfig
)

// The functions of the SDK's registry package that the framework uses.
var (
	EncodeAuthConfig = upstream.EncodeAuthConfig
)
