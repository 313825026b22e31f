// Package jsonmessage names, as aliases, what the framework uses of the Docker SDK's
// jsonmessage package: the JSON progress messages of pulls and pushes (see package docker).
package jsonmessage

import upstream "github.com/docker/docker/pkg/jsonmessage"

// The functions of the SDK's jsonmessage package that the framework uses.
var (
	DisplayJSONMessagesStream = upstream.DisplayJSONMessagesStream
)
