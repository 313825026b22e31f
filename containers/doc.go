// Package containers starts Docker containers for integration tests and removes them
// when the test ends.
//
// A Spec describes a container; it is a value, so a base Spec can be shared by
// parallel tests and specialised in each. Start creates the container, copies files
// in, starts it, waits until it is ready and registers its removal with t.Cleanup:
//
//	func TestAPI(t *testing.T) {
//		net := network.New(t)
//		db := containers.Build("testdata/postgres").
//			Env("POSTGRES_PASSWORD", "secret").
//			On(net, "db").
//			Expose("5432/tcp").
//			WaitFor(wait.ForLog("ready to accept connections").Times(2), wait.ForPort("5432/tcp")).
//			Start(t)
//		dsn := "postgres://postgres:secret@" + db.Endpoint("5432") + "/postgres"
//		// ... test against dsn ...
//	}
//
// Ports named by Expose are published on random host ports bound to 127.0.0.1 (all
// interfaces only for a remote engine); MappedPort, Endpoint and URL find them. Without
// WaitFor, Start waits until every exposed TCP port accepts connections. When the
// container's process dies while Start waits, Start fails at once with the exit code
// and the last log lines.
//
// Teardown: when the test ends, its containers are killed and removed (with their
// anonymous volumes) concurrently, then its networks, then its volumes. A container
// that mounts a writable named volume or bind mount is stopped gracefully first, for up
// to DefaultStopTimeout, since its data outlives it (see Spec.GracefulStop and
// Spec.KillOnTeardown). When the test
// failed, a diagnosis of each container is logged first: state, exit code, OOM kill,
// health log, networks with addresses and aliases, mounts and the last 50 log lines.
// CONTAINERTEST_KEEP=failed keeps a failed test's containers instead and prints how to
// get into them.
//
// Start skips the test when no Docker engine answers, unless
// CONTAINERTEST_REQUIRE_DOCKER=1, which makes it fail instead (CI sets it). Run and
// RunAll are the forms without a test: the caller owns Terminate.
package containers
