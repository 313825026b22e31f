// Package leakcheck finds what a test process left on the engine: the containers,
// networks and volumes that carry this process's session label.
package leakcheck

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dnetwork "github.com/docker/docker/api/types/network"
	dvolume "github.com/docker/docker/api/types/volume"

	"github.com/containertest/containertest/internal/engine"
)

// Session lists this session's resources still on the engine ("container NAME",
// "network NAME", "volume NAME"), or nothing when no engine answers (the tests were
// skipped). A failure to list is reported as a leak, so that it is not missed.
func Session(ctx context.Context) []string {
	e, err := engine.Get(ctx)
	if err != nil {
		return nil
	}
	f := filters.NewArgs(filters.Arg("label", engine.SessionFilter()))
	var leaks []string
	cs, err := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return []string{"list containers: " + err.Error()}
	}
	for _, c := range cs {
		leaks = append(leaks, "container "+strings.Join(c.Names, ","))
	}
	ns, err := e.Client.NetworkList(ctx, dnetwork.ListOptions{Filters: f})
	if err != nil {
		return append(leaks, "list networks: "+err.Error())
	}
	for _, n := range ns {
		leaks = append(leaks, "network "+n.Name)
	}
	vs, err := e.Client.VolumeList(ctx, dvolume.ListOptions{Filters: f})
	if err != nil {
		return append(leaks, "list volumes: "+err.Error())
	}
	for _, v := range vs.Volumes {
		leaks = append(leaks, "volume "+v.Name)
	}
	return leaks
}

// Main runs the tests of package pkg and fails the run when they passed but left a
// resource of this session behind. Call it from TestMain.
func Main(m *testing.M, pkg string) {
	code := m.Run()
	if code == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		leaks := Session(ctx)
		cancel()
		if len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "%s: leaked resources: %s\n", pkg, strings.Join(leaks, "; "))
			code = 1
		}
	}
	os.Exit(code)
}
