// Package mount names, as aliases, what the framework uses of the Docker SDK's
// mount package: mounts of a container: binds, volumes, tmpfs (see package docker).
package mount

import upstream "github.com/docker/docker/api/types/mount"

// The types of the SDK's mount package that the framework uses.
type (
	Driver        = upstream.Driver
	Mount         = upstream.Mount
	TmpfsOptions  = upstream.TmpfsOptions
	VolumeOptions = upstream.VolumeOptions
)

// The constants of the SDK's mount package that the framework uses.
const (
	TypeBind   = upstream.TypeBind
	TypeImage  = upstream.TypeImage
	TypeTmpfs  = upstream.TypeTmpfs
	TypeVolume = upstream.TypeVolume
)
