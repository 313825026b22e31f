package containers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

func TestStartAllHonoursDependsOn(t *testing.T) {
	sfx := engine.SessionID()[:6]
	db := containers.Image(busybox).Named("db-"+sfx).
		Cmd("sh", "-c", "sleep 1; echo ready; sleep 60").
		WaitFor(wait.ForLog("ready"))
	api := containers.Image(busybox).Named("api-"+sfx).Cmd("sleep", "60").WaitFor().DependsOn("db-" + sfx)
	other := containers.Image(busybox).Cmd("sleep", "60").WaitFor()

	cs := containers.StartAll(t, api, other, db)
	require.Len(t, cs, 3)
	assert.Equal(t, "api-"+sfx, cs[0].Name(), "containers come back in input order")
	assert.Equal(t, "db-"+sfx, cs[2].Name())

	dbInfo, err := cs[2].Inspect(t.Context())
	require.NoError(t, err)
	apiInfo, err := cs[0].Inspect(t.Context())
	require.NoError(t, err)
	otherInfo, err := cs[1].Inspect(t.Context())
	require.NoError(t, err)
	// db logs "ready" a second after it starts; api may start only after that.
	assert.True(t, !apiInfo.StartedAt.Before(dbInfo.StartedAt.Add(time.Second)),
		"api started at %v, before db was ready (db started at %v)", apiInfo.StartedAt, dbInfo.StartedAt)
	// other has no dependency: it does not wait for db.
	assert.True(t, otherInfo.StartedAt.Before(dbInfo.StartedAt.Add(time.Second)),
		"other started at %v, it should not have waited for db (started %v)", otherInfo.StartedAt, dbInfo.StartedAt)
}

func TestRunAllFailureRemovesEverything(t *testing.T) {
	containers.RequireDocker(t)
	ctx := context.Background()
	ok1 := containers.Image(busybox).Cmd("sleep", "60").WaitFor()
	ok2 := containers.Image(busybox).Cmd("sleep", "60").WaitFor()
	bad := containers.Image(busybox).Named("bad-"+engine.SessionID()[:6]).Cmd("sh", "-c", "exit 4").Expose("80")
	before := len(sessionContainers(t))
	cs, err := containers.RunAll(ctx, ok1, bad, ok2)
	require.Error(t, err)
	assert.Nil(t, cs)
	assert.Contains(t, err.Error(), "bad-"+engine.SessionID()[:6])
	assert.Contains(t, err.Error(), "exited with code 4")
	assert.LessOrEqual(t, len(sessionContainers(t)), before, "containers of a failed group leaked")
}

func TestRunAllBadGroups(t *testing.T) {
	containers.RequireDocker(t)
	ctx := context.Background()
	a := containers.Image(busybox).Named("a").DependsOn("b")
	b := containers.Image(busybox).Named("b").DependsOn("a")
	_, err := containers.RunAll(ctx, a, b)
	assert.ErrorContains(t, err, "dependency cycle")

	_, err = containers.RunAll(ctx, containers.Image(busybox).DependsOn("nobody"))
	assert.ErrorContains(t, err, `depends on "nobody"`)

	_, err = containers.RunAll(ctx, containers.Image(busybox).Named("x"), containers.Image(busybox).Named("x"))
	assert.ErrorContains(t, err, `both named "x"`)

	_, err = containers.RunAll(ctx, containers.Image(busybox).Expose("nope"))
	assert.ErrorContains(t, err, `invalid port "nope"`)
}

func TestStartAllDependsOnNetworkAlias(t *testing.T) {
	net := network.New(t)
	db := containers.Image(busybox).On(net, "db").
		Cmd("sh", "-c", "sleep 1; echo ready; sleep 60").
		WaitFor(wait.ForLog("ready"))
	api := containers.Image(busybox).On(net, "api").Cmd("sleep", "60").WaitFor().DependsOn("db")
	cs := containers.StartAll(t, api, db)
	apiInfo, err := cs[0].Inspect(t.Context())
	require.NoError(t, err)
	dbInfo, err := cs[1].Inspect(t.Context())
	require.NoError(t, err)
	assert.True(t, !apiInfo.StartedAt.Before(dbInfo.StartedAt.Add(time.Second)),
		"api started at %v, before db was ready (db started at %v)", apiInfo.StartedAt, dbInfo.StartedAt)
	// The alias resolves on the network, so the dependency is also reachable by it.
	r, err := cs[0].Exec(t.Context(), "ping", "-c1", "-W2", "db")
	require.NoError(t, err)
	assert.Equal(t, 0, r.ExitCode, r.Stdout+r.Stderr)
}
