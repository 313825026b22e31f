// Package client names, as aliases, what the framework uses of the Docker SDK's
// client package: the engine API client itself, for the tests that talk to the engine directly (see package docker).
package client

import upstream "github.com/docker/docker/client"

// The types of the SDK's client package that the framework uses.
type (
	Client = upstream.Client
)

// The functions of the SDK's client package that the framework uses.
var (
	FromEnv                   = upstream.FromEnv
	NewClientWithOpts         = upstream.NewClientWithOpts
	WithAPIVersionNegotiation = upstream.WithAPIVersionNegotiation
	WithHost                  = upstream.WithHost
	WithVersion               = upstream.WithVersion
)
