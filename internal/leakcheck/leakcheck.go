// Package leakcheck finds what a test process left behind: the containers, networks
// and volumes that carry this process's session label, and goroutines still running.
// The project's test mains call Main, so that a test whose own cleanup is broken fails
// its package, instead of being covered up by the watchdog.
package leakcheck

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/filters"
	dnetwork "github.com/containertest/containertest/internal/engine/docker/network"
	dvolume "github.com/containertest/containertest/internal/engine/docker/volume"
)

// Session lists this session's resources still on the engine ("container NAME",
// "network NAME", "volume NAME"), or nothing when the process never connected to an
// engine (it cannot have made any). A failure to list is reported as a leak, so that
// it is not missed.
func Session(ctx context.Context) []string {
	e := engine.Current()
	if e == nil {
		return nil
	}
	f := filters.NewArgs(filters.Arg("label", engine.SessionFilter()))
	var leaks []string
	cs, err := e.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return []string{"list containers: " + err.Error()}
	}
	for _, c := range cs {
		if c.Labels[engine.LabelKeep] == "reuse" {
			continue // Spec.Reuse: meant to outlive the process (see containers.RemoveReused)
		}
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

// WatchdogWaiter is the function of the one goroutine the framework keeps for the
// life of a process: it waits for the watchdog process (internal/reaper), so that a
// watchdog that dies early is reaped and replaced. The README tells goleak users to
// ignore it; Goroutines ignores nothing else of the framework's.
const WatchdogWaiter = "github.com/containertest/containertest/internal/reaper.waitWatchdog"

// settle bounds how long Goroutines waits for goroutines that are ending (a stream
// being closed, a background sweep finishing).
const settle = 5 * time.Second

// Goroutines returns an error naming the goroutines still running besides the
// caller's, the testing package's and the watchdog waiter. Idle keep-alive connections
// of the shared engine client and of http.DefaultTransport are closed first (as
// httptest.Server.Close does): a connection still in use is reported.
func Goroutines() error {
	deadline := time.Now().Add(settle)
	for {
		// Again on every round: a request that was still finishing (a stream being
		// closed, a background sweep) hands its connection back to the idle pool
		// after the first round.
		if e := engine.Current(); e != nil {
			e.Client.Close() // closes idle connections only; the client stays usable
		}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
		err := goleak.Find(goleak.IgnoreAnyFunction(WatchdogWaiter))
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Check reports, on w, what the tests of package pkg left behind, and returns 1 when
// they left anything, 0 otherwise.
func Check(pkg string, w io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := 0
	// The tests' own cleanup must have removed everything by now: the watchdog, which
	// removes the rest when the process exits, is for crashes.
	if leaks := Session(ctx); len(leaks) > 0 {
		fmt.Fprintf(w, "%s: leaked resources (the tests' own cleanup did not remove them): %s\n", pkg, strings.Join(leaks, "; "))
		code = 1
	}
	if err := Goroutines(); err != nil {
		fmt.Fprintf(w, "%s: leaked goroutines: %v\n", pkg, err)
		code = 1
	}
	return code
}

// Main runs the tests of package pkg and fails the run when they passed but left a
// resource of this session or a goroutine behind. Call it from TestMain.
func Main(m *testing.M, pkg string) {
	code := m.Run()
	if code == 0 {
		code = Check(pkg, os.Stderr)
	}
	os.Exit(code)
}
