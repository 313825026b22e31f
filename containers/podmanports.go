package containers

import (
	"context"
	"fmt"
)

// forwardPastInternalNetworks makes a podman container's published ports reach it
// through a network the host can route to. Podman's CNI backend forwards a published
// port to the container's address on each of its networks, one rule per network in
// the order it set them up, which varies from start to start, and the first rule
// wins: when that is an internal network's, whose bridge has no address on the host,
// the port leads nowhere. A network connected to a running container gets its rule
// last, so after each start the internal networks are connected again. Until that is
// done, for a few milliseconds, the container is not on them.
func (c *Container) forwardPastInternalNetworks(ctx context.Context) error {
	if len(c.spec.exposed) == 0 || len(c.spec.networks) < 2 {
		return nil
	}
	if podman, err := c.eng.Podman(ctx); err != nil || !podman {
		return err
	}
	var internal, other []netAttach
	for _, na := range c.spec.networks {
		info, err := na.net.Inspect(ctx)
		if err != nil {
			return fmt.Errorf("network %s: %w", na.net.Name(), err)
		}
		if info.Internal {
			internal = append(internal, na)
		} else {
			other = append(other, na)
		}
	}
	if len(internal) == 0 || len(other) == 0 {
		return nil
	}
	for _, na := range internal {
		err := c.eng.Client.NetworkDisconnect(ctx, na.net.ID(), c.id, true)
		if err == nil {
			err = c.eng.Client.NetworkConnect(ctx, na.net.ID(), c.id, na.endpoint())
		}
		if err != nil {
			return fmt.Errorf("connect to network %s again, after the ordinary networks: %w", na.net.Name(), err)
		}
	}
	return nil
}
