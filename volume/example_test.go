package volume_test

import (
	"context"
	"fmt"
	"log"

	"github.com/containertest/containertest/volume"
)

// Create makes a volume outside of a test; the caller removes it. In a test,
// volume.New(t) does both.
func ExampleCreate() {
	ctx := context.Background()
	vol, err := volume.Create(ctx, volume.Label("suite", "checkout"))
	if err != nil {
		log.Fatal(err)
	}
	defer vol.Remove(ctx)

	info, err := vol.Inspect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Name, info.Driver, info.Labels["suite"])
}

// A volume held in memory by the local driver.
func ExampleDriverOpt() {
	ctx := context.Background()
	vol, err := volume.Create(ctx,
		volume.DriverOpt("type", "tmpfs"),
		volume.DriverOpt("device", "tmpfs"),
		volume.DriverOpt("o", "size=64m"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer vol.Remove(ctx)
	fmt.Println(vol.Name())
}
