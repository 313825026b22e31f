package network_test

import (
	"context"
	"fmt"
	"log"

	"github.com/containertest/containertest/network"
)

// Create makes a network outside of a test; the caller removes it. In a test,
// network.New(t) does both.
func ExampleCreate() {
	ctx := context.Background()
	net, err := network.Create(ctx, network.Internal(), network.Label("suite", "checkout"))
	if err != nil {
		log.Fatal(err)
	}
	defer net.Remove(ctx)

	info, err := net.Inspect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Name, info.Subnets, info.Internal)
}

// Subnet pins the network's addresses; a malformed one is reported by Create.
func ExampleSubnet() {
	_, err := network.Create(context.Background(), network.Subnet("10.20.0.5/24"))
	fmt.Println(err)
	// Output: create network: invalid network option: subnet "10.20.0.5/24" has host bits set; did you mean 10.20.0.0/24?
}
