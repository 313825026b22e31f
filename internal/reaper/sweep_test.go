//go:build linux

package reaper

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/network"
)

// deadProcess runs a process to its end and returns its pid and start time.
func deadProcess(t testing.TB) (pid int, start string) {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	pid = cmd.Process.Pid
	start = engine.ProcStart(pid) // a zombie until Wait: still readable
	require.NoError(t, cmd.Wait())
	require.NotEmpty(t, start, "start time of pid %d", pid)
	require.True(t, processGone(pid, start), "pid %d still runs", pid)
	return pid, start
}

type ownerCase struct {
	name     string
	labels   map[string]string
	gone     bool // the owner is provably gone
	keepMark bool // recorded with MarkKept
	swept    bool // the sweep removes it
}

// ownerCases are label sets relative to this (live) process and a dead one.
func ownerCases(t testing.TB) []ownerCase {
	t.Setenv(EnvKeep, "")
	deadPID, deadStart := deadProcess(t)
	live := Labels()
	require.NotEmpty(t, live[LabelProcNS], "this test needs procfs")
	dead := withLabels(live, engine.LabelPID, strconv.Itoa(deadPID), engine.LabelStart, deadStart)
	noNS := withLabels(dead)
	delete(noNS, LabelProcNS)
	return []ownerCase{
		{name: "dead pid", labels: dead, gone: true, swept: true},
		{name: "dead pid, no pid namespace label", labels: noNS, gone: true, swept: true},
		{name: "pid reused by a later process", labels: withLabels(live, engine.LabelStart, "1"), gone: true, swept: true},
		{name: "live", labels: live},
		{name: "live, start unknown", labels: withLabels(live, engine.LabelStart, "")},
		{name: "other host", labels: withLabels(dead, engine.LabelHost, "not-"+engine.HostName())},
		{name: "other pid namespace", labels: withLabels(dead, LabelProcNS, "another-boot/pid:[1]")},
		{name: "no pid", labels: withLabels(dead, engine.LabelPID, "")},
		{name: "bad pid", labels: withLabels(dead, engine.LabelPID, "twelve")},
		{name: "dead, kept by label", labels: withLabels(dead, engine.LabelKeep, "true"), gone: true},
		{name: "dead, kept by marker", labels: dead, gone: true, keepMark: true},
	}
}

func TestOwnerGone(t *testing.T) {
	for _, c := range ownerCases(t) {
		assert.Equal(t, c.gone, OwnerGone(c.labels), c.name)
	}
}

func TestParseStat(t *testing.T) {
	line := "4242 (a) b (c) R 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100"
	state, start, ok := parseStat(line)
	require.True(t, ok)
	assert.Equal(t, "R", state)
	assert.Equal(t, "987654", start)
	_, _, ok = parseStat("4242 (truncated")
	assert.False(t, ok)

	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no procfs")
	}
	_, start, ok = parseStat(string(self))
	require.True(t, ok)
	assert.Equal(t, engine.ProcStart(os.Getpid()), start)
}

// A fresh test process's sweep removes what dead processes of this host left behind
// (containers before the networks and volumes they use), and nothing else.
func TestSweepRemovesOnlyResourcesOfDeadOwners(t *testing.T) {
	e := mustHaveEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := randomHex(t)
	runFilter := engine.LabelPrefix + "reaper-test=" + run
	t.Cleanup(func() { removeLabelled(t, e, runFilter) })

	cases := ownerCases(t)

	// The other packages of go test ./... sweep as they start, and a sweep would take
	// the resources of "dead" owners made here before the stack is complete. Sweeps
	// run one at a time: holding their lock while making them keeps others out. A
	// sweeper of its own, running all along, proves it.
	unlock, err := lockSweep(ctx, e)
	require.NoError(t, err)
	hammerCtx, stopHammer := context.WithCancel(ctx)
	hammerDone := make(chan struct{})
	go func() {
		defer close(hammerDone)
		for hammerCtx.Err() == nil {
			_, _ = Sweep(hammerCtx, e)
		}
	}()
	t.Cleanup(func() { stopHammer(); <-hammerDone })

	byID := map[string]ownerCase{}
	var stackOfDead stack
	for i, c := range cases {
		labels := withLabels(c.labels, engine.LabelSession, run+strconv.Itoa(i), engine.LabelPrefix+"reaper-test", run)
		if i == 0 {
			// A whole stack: the container holds the network and the volume.
			stackOfDead = createStack(ctx, t, e, "ctreaper-sweep-"+run, labels)
			for _, r := range stackOfDead.refs() {
				byID[r.ID] = c
			}
			continue
		}
		cr, err := e.Client.ContainerCreate(ctx, &container.Config{Image: testImage, Cmd: []string{"true"}, Labels: labels},
			nil, nil, nil, "ctreaper-sweep-"+run+"-"+strconv.Itoa(i))
		require.NoError(t, err)
		byID[cr.ID] = c
		if c.keepMark {
			require.NoError(t, MarkKept(ctx, Ref{Container, cr.ID}))
		}
	}

	// Markers: one of a resource that no longer exists on this engine (collected), one
	// of another engine (left alone).
	stale := Ref{Container, strings.Repeat("0", 56) + run[:8]}
	require.NoError(t, MarkKept(ctx, stale))
	dir, err := reaperDir("kept")
	require.NoError(t, err)
	foreign := filepath.Join(dir, "container-"+strings.Repeat("1", 56)+run[:8])
	require.NoError(t, os.WriteFile(foreign, []byte("s\n"+engine.HostName()+"\ntcp://elsewhere:2376\n"), 0o644))
	t.Cleanup(func() { os.Remove(foreign) })

	unlock()
	h := startHelper(t, "sweep", nil)
	err, out := h.wait(t)
	require.NoError(t, err, out)
	swept := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "SWEPT="); ok {
			swept[strings.Fields(v)[1]] = true
		}
	}

	var sweptHere int
	for id, c := range byID {
		if c.swept && swept[id] {
			sweptHere++
		}
	}
	t.Logf("the helper's sweep removed %d of the resources of dead owners", sweptHere)

	left := map[string]bool{}
	for _, r := range refsOf(ctx, t, e, runFilter) {
		left[r.ID] = true
	}
	for id, c := range byID {
		if c.swept {
			// Another process's sweep may have come first; either way it is gone.
			assert.False(t, left[id], "%s: %s not swept", c.name, id)
		} else {
			assert.False(t, swept[id], "%s: %s swept", c.name, id)
			assert.True(t, left[id], "%s: %s removed", c.name, id)
		}
	}
	assert.NoFileExists(t, filepath.Join(dir, "container-"+stale.ID), "marker of a removed resource")
	assert.FileExists(t, foreign, "marker of another engine's resource")
}

func randomHex(t testing.TB) string {
	t.Helper()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// TestRemoveSessionLeavesNetworkInUse checks that removing a session leaves its network
// alone while a container that is not the session's is attached to it, on every
// engine: podman 4.3 removes a network named by its id even then, and the container is
// left on a network that no longer exists.
func TestRemoveSessionLeavesNetworkInUse(t *testing.T) {
	e := mustHaveEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := randomHex(t)
	runFilter := engine.LabelPrefix + "reaper-test=" + run
	t.Cleanup(func() { removeLabelled(t, e, runFilter) })
	session := "inuse" + run
	n, err := createNetwork(ctx, e, "ctreaper-inuse-"+run, withLabels(map[string]string{}, engine.LabelSession, session, engine.LabelPrefix+"reaper-test", run))
	require.NoError(t, err)
	// Another session's container, on the session's network.
	cr, err := e.Client.ContainerCreate(ctx,
		&container.Config{Image: testImage, Cmd: []string{"sleep", "300"}, Labels: withLabels(map[string]string{}, engine.LabelPrefix+"reaper-test", run)},
		nil, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"ctreaper-inuse-" + run: {}}},
		nil, "ctreaper-inuse-"+run)
	require.NoError(t, err)
	require.NoError(t, e.Client.ContainerStart(ctx, cr.ID, container.StartOptions{}))

	_, err = removeSession(ctx, e, session)
	require.Error(t, err, "removing a session whose network is in use")
	_, err = e.Client.NetworkInspect(ctx, n.ID, network.InspectOptions{})
	require.NoError(t, err, "the network in use was removed")
	c, err := e.Client.ContainerInspect(ctx, cr.ID)
	require.NoError(t, err)
	assert.True(t, c.State.Running, "the other session's container")
}
