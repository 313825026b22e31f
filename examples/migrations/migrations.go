// Package migrations is an example suite: a one-shot container migrates the database
// before anything uses it, and a broken migration stops the start with the database's
// own error.
//
// The runner is testdata/migrate/migrate.sh, run with psql in a container of the
// PostgreSQL image of the postgres example: the same build context and arguments, so
// the build cache hands out the same image and there is no second image to build. The script applies the SQL
// files in /migrations in name order, each in one transaction together with its row in
// schema_migrations, so that a file is applied completely and once, or not at all. The
// test copies the script and the SQL files in (Spec.CopyDir), so changing a migration
// never needs a new image.
//
// The runner is ready when it has exited with code 0 (wait.ForExit), and it depends on
// the database, so containers.StartAll starts the database, waits until it accepts
// connections, runs the migrations and returns only when they succeeded. An
// application spec that names the runner in DependsOn starts only after that:
//
//	net := network.New(t)
//	cs := containers.StartAll(t,
//		postgres.Spec().Named("db").On(net, "db"),
//		migrations.Spec("testdata/sql", "db").Named("migrate").On(net).DependsOn("db"),
//		app.Named("app").On(net).DependsOn("migrate"),
//	)
//
// When a migration fails, the runner exits with code 1 and the start fails at once
// with an error that wraps wait.ErrExited and ends with psql's message (see
// TestBrokenMigrationIsRolledBack).
package migrations

import (
	"path/filepath"
	"runtime"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/examples/postgres"
	"github.com/containertest/containertest/wait"
)

// Spec returns a migration runner that applies the SQL files in the host directory
// sqlDir to the database of a postgres.Spec container that the runner's network knows
// as dbHost. Attach it to that network with On.
func Spec(sqlDir, dbHost string) containers.Spec {
	// The server's image, built from the same context with the same arguments: the
	// build cache finds it by that content.
	return containers.Build(postgres.ContextDir()).
		BuildArg("PG_MAJOR", "15").
		Env("PGHOST", dbHost).
		Env("PGUSER", postgres.User).
		Env("PGPASSWORD", postgres.Password).
		Env("PGDATABASE", postgres.Database).
		// The image's entrypoint runs any command other than "postgres" as given.
		User("nobody").
		CopyDir(scriptDir(), "/opt/migrate").
		CopyDir(sqlDir, "/migrations").
		Cmd("sh", "/opt/migrate/migrate.sh", "/migrations").
		WaitFor(wait.ForExit(0))
}

// scriptDir is testdata/migrate beside this file, which holds the runner's script.
func scriptDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		// Built with -trimpath: the path relative to this package, which is the
		// working directory of its own tests.
		return filepath.Join("testdata", "migrate")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "migrate")
}
