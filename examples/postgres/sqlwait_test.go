package postgres_test

import (
	"database/sql"
	"net/url"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/containertest/containertest/examples/postgres"
	"github.com/containertest/containertest/wait"
)

// TestReadyThroughSQL waits with wait.ForSQL alone, through the driver the test
// imports: the server is ready when a real query through pgx answers.
func TestReadyThroughSQL(t *testing.T) {
	dsn := func(hostPort string) string {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(postgres.User, postgres.Password),
			Host: hostPort, Path: "/" + postgres.Database, RawQuery: "sslmode=disable"}
		return u.String()
	}
	db := postgres.Spec().
		WaitFor(wait.ForSQL("pgx", postgres.Port, dsn).Query("SELECT count(*) FROM pg_database")).
		Start(t)

	// Ready means usable: the first query of the test needs no retry.
	conn, err := sql.Open("pgx", postgres.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(t.Context(), "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("SELECT 1 right after the wait: %d, %v", n, err)
	}
}
