// Package postgres is an example suite: tests against a real PostgreSQL 15 server in a
// container, reached through a real driver (pgx).
//
// The server image is built from testdata/postgres/Dockerfile, which installs
// PostgreSQL from Debian's packages on the project's Debian base image; nothing is
// pulled from a registry. The first test to ask for it builds it (a few minutes, once
// per machine); after that the build cache finds the image by the content of the
// build context and nothing is sent to the engine. The image's entrypoint initialises a
// cluster on the first start, with a password from POSTGRES_PASSWORD, and accepts
// password logins from any address.
//
// A test starts its own server and talks to it through the published port:
//
//	func TestOrders(t *testing.T) {
//		db := postgres.Spec().Start(t)
//		conn, err := pgx.Connect(t.Context(), postgres.DSN(db))
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer conn.Close(context.Background())
//		// ... CREATE TABLE, INSERT, SELECT ...
//	}
//
// Start returns once the server has logged "database system is ready to accept
// connections" and its published port accepts connections, so the first query
// never races the server's start. To keep the data beyond one container, mount a
// named volume on the data directory: a new container on the same volume finds the
// cluster and skips the initialisation (see TestDataSurvivesNewContainer).
//
// Spec, DSN and Connect are exported so that other suites reuse the same server: the
// migrations example runs its migrations against it.
package postgres

import (
	"context"
	"net/url"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// The superuser, its password and the database the image creates on the first start.
const (
	User     = "postgres"
	Password = "test-secret"
	Database = "app"
)

// DataDir is the server's data directory in the container: mount a volume here to keep
// the cluster beyond one container.
const DataDir = "/var/lib/postgresql/data"

// Port is the server's port in the container.
const Port = "5432/tcp"

// Spec returns the description of a PostgreSQL 15 server container: built from
// testdata/postgres, with the superuser password and database set, port 5432
// published, ready when the server says so and the port answers. It is a value:
// specialise it with Mount, On, Env, ... in each test.
func Spec() containers.Spec {
	return containers.Build(ContextDir()).
		BuildArg("PG_MAJOR", "15").
		Env("POSTGRES_USER", User).
		Env("POSTGRES_PASSWORD", Password).
		Env("POSTGRES_DB", Database).
		Expose(Port).
		// The first start runs initdb, which takes a few seconds on a busy machine.
		StartTimeout(2*time.Minute).
		WaitFor(
			wait.ForLog("database system is ready to accept connections"),
			wait.ForPort(Port),
		)
}

// DSN returns the connection URL of the database in db, a container started from Spec,
// through its published port.
func DSN(db *containers.Container) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(User, Password),
		Host:     db.Endpoint(Port),
		Path:     "/" + Database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// ContextDir is the build context of the server image: testdata/postgres beside this
// file, so that suites in other directories build (and share) the same image.
func ContextDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		// Built with -trimpath: fall back to the path relative to this package,
		// which is the working directory of its own tests.
		return filepath.Join("testdata", "postgres")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "postgres")
}

// Connect opens a pgx connection to the database in db, failing t if it cannot, and
// closes it when the test ends.
func Connect(t testing.TB, db *containers.Container) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DSN(db))
	if err != nil {
		t.Fatalf("connect to %s: %v", db.Endpoint(Port), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}
