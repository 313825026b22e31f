// Package versions names, as aliases, what the framework uses of the Docker SDK's
// versions package: comparison of API versions (see package docker).
package versions

import upstream "github.com/docker/docker/api/types/versions"

// The functions of the SDK's versions package that the framework uses.
var (
	GreaterThanOrEqualTo = upstream.GreaterThanOrEqualTo
	LessThan             = upstream.LessThan
)
