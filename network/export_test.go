package network

// PickedSubnet reports whether the framework picked n's subnet itself, the engine's
// default pools being used up.
func PickedSubnet(n *Network) bool { return n.reserved.IsValid() }
