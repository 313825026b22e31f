// Package network names, as aliases, what the framework uses of the Docker SDK's
// network package: networks and how containers attach to them (see package docker).
package network

import upstream "github.com/docker/docker/api/types/network"

// The types of the SDK's network package that the framework uses.
type (
	CreateOptions      = upstream.CreateOptions
	CreateResponse     = upstream.CreateResponse
	EndpointIPAMConfig = upstream.EndpointIPAMConfig
	EndpointSettings   = upstream.EndpointSettings
	IPAM               = upstream.IPAM
	IPAMConfig         = upstream.IPAMConfig
	Inspect            = upstream.Inspect
	InspectOptions     = upstream.InspectOptions
	ListOptions        = upstream.ListOptions
	NetworkingConfig   = upstream.NetworkingConfig
	Summary            = upstream.Summary
)
