// Package network creates ephemeral user-defined networks on which containers reach
// each other by name.
package network

// A Network is a user-defined network created by this package.
type Network struct {
	id, name string
}

// ID is the engine's id of the network.
func (n *Network) ID() string { return n.id }

// Name is the network's unique name.
func (n *Network) Name() string { return n.name }
