// Package postgres is the postgres example suite (examples/postgres) written with
// testcontainers-go: a PostgreSQL 15 server built from the example's Dockerfile,
// tested through pgx over the published port.
//
// testcontainers-go builds the image on every start (FromDockerfile) and removes it
// when the container is terminated.
package postgres

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	testcontainers "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/internal/bench/tcsuite"
)

// The superuser, its password and the database the image creates on the first start.
const (
	User     = "postgres"
	Password = "test-secret"
	Database = "app"
)

// DataDir is the server's data directory in the container.
const DataDir = "/var/lib/postgresql/data"

// Port is the server's port in the container.
const Port = "5432/tcp"

// ContextDir is the build context of the server image: the example's.
func ContextDir() string { return tcsuite.Testdata("postgres", "postgres") }

// Options describe a PostgreSQL 15 server container: built from ContextDir, with the
// superuser password and database set, port 5432 published, ready when the server
// says so and the port answers. Add options (a network, a mount) after them.
func Options() []testcontainers.ContainerCustomizer {
	env := map[string]string{
		"POSTGRES_USER":     User,
		"POSTGRES_PASSWORD": Password,
		"POSTGRES_DB":       Database,
	}
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithDockerfile(tcsuite.Dockerfile(ContextDir(), "PG_MAJOR", "15")),
		testcontainers.WithEnv(env),
		testcontainers.WithExposedPorts(Port),
		tcsuite.Loopback(Port),
		testcontainers.WithLabels(tcsuite.Labels()),
		// The first start runs initdb, which takes a few seconds on a busy machine.
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForLog("database system is ready to accept connections").WithStartupTimeout(2*time.Minute),
			wait.ForListeningPort(Port).WithStartupTimeout(2*time.Minute),
		),
	}
}

// Run starts a server from Options and opts. The caller terminates it (see
// testcontainers.CleanupContainer), also when Run fails.
func Run(ctx context.Context, opts ...testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, error) {
	return testcontainers.Run(ctx, "", append(Options(), opts...)...)
}

// DSN returns the connection URL of the database in db, a container started from
// Options, through its published port.
func DSN(ctx context.Context, db testcontainers.Container) (string, error) {
	ep, err := db.PortEndpoint(ctx, Port, "")
	if err != nil {
		return "", err
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(User, Password),
		Host:     ep,
		Path:     "/" + Database,
		RawQuery: "sslmode=disable",
	}
	return u.String(), nil
}

// Connect opens a pgx connection to the database in db, failing t if it cannot, and
// closes it when the test ends.
func Connect(t testing.TB, db testcontainers.Container) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dsn, err := DSN(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}
