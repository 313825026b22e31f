// Package image names, as aliases, what the framework uses of the Docker SDK's
// image package: images: options of the calls about them, their summaries and inspection (see package docker).
package image

import upstream "github.com/docker/docker/api/types/image"

// The types of the SDK's image package that the framework uses.
type (
	HistoryResponseItem = upstream.HistoryResponseItem
	ImportOptions       = upstream.ImportOptions
	ImportSource        = upstream.ImportSource
	InspectResponse     = upstream.InspectResponse
	ListOptions         = upstream.ListOptions
	PullOptions         = upstream.PullOptions
	RemoveOptions       = upstream.RemoveOptions
	Summary             = upstream.Summary
)
