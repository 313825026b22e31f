// Package events names, as aliases, what the framework uses of the Docker SDK's
// events package: the engine's event stream (see package docker).
package events

import upstream "github.com/docker/docker/api/types/events"

// The types of the SDK's events package that the framework uses.
type (
	Actor       = upstream.Actor
	ListOptions = upstream.ListOptions
	Message     = upstream.Message
)

// The constants of the SDK's events package that the framework uses.
const (
	ContainerEventType = upstream.ContainerEventType
)
