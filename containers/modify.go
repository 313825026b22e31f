package containers

import (
	"errors"
	"slices"

	"github.com/docker/docker/api/types/container"
)

// Modify registers a function that edits the engine's container configuration just
// before the container is created: the escape hatch for settings Spec does not cover.
// It is the one place where types of the Docker SDK (github.com/docker/docker/api)
// appear in this module's API, and this file the one outside internal/engine that
// imports the SDK: a move to the moby/moby modules changes this signature and nothing
// else a user calls (see CONTRIBUTING.md).
func (s Spec) Modify(f func(*container.Config, *container.HostConfig)) Spec {
	if f == nil {
		return s.fail(errors.New("modify: nil function"))
	}
	s.modify = append(slices.Clip(s.modify), f)
	return s
}
