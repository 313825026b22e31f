package migrations_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/examples/migrations"
	"github.com/containertest/containertest/examples/postgres"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/wait"
)

// appliedVersions lists the versions recorded in schema_migrations, in order.
func appliedVersions(t testing.TB, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return versions
}

// logsOf returns the container's log, failing the test when it cannot be read.
func logsOf(t testing.TB, c *containers.Container) string {
	t.Helper()
	logs, err := c.Logs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// TestMigrationsRunBeforeUse starts the database and the migration runner as one
// group: StartAll returns once the runner has exited with code 0, so the schema is
// there for whatever comes next. A second run applies nothing.
func TestMigrationsRunBeforeUse(t *testing.T) {
	t.Parallel()
	net := network.New(t)
	// StartAll orders specs by their names, and container names are unique on the
	// engine: give this test's containers names of their own.
	suffix := strings.ToLower(rand.Text()[:8])
	dbName, runnerName := "migrations-db-"+suffix, "migrations-run-"+suffix

	cs := containers.StartAll(t,
		postgres.Spec().Named(dbName).On(net, "db"),
		migrations.Spec("testdata/sql", "db").Named(runnerName).On(net).DependsOn(dbName),
	)
	db, runner := cs[0], cs[1]

	info, err := runner.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Running || info.ExitCode != 0 {
		t.Errorf("runner: running %v, exit code %d; want exited with 0", info.Running, info.ExitCode)
	}
	logs := logsOf(t, runner)
	for _, want := range []string{
		"applying 001_create_customers",
		"applying 002_create_orders",
		"applying 003_seed_customers",
		"done: 3 applied, 0 already applied",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("runner's log lacks %q:\n%s", want, logs)
		}
	}

	conn := postgres.Connect(t, db)
	ctx := t.Context()
	want := []string{"001_create_customers", "002_create_orders", "003_seed_customers"}
	if got := appliedVersions(t, conn); !slices.Equal(got, want) {
		t.Errorf("schema_migrations = %q, want %q", got, want)
	}
	rows, err := conn.Query(ctx, "SELECT email FROM customers ORDER BY id")
	if err != nil {
		t.Fatalf("query customers: %v", err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read customers: %v", err)
	}
	if want := []string{"ada@example.com", "grace@example.com"}; !slices.Equal(emails, want) {
		t.Errorf("seeded customers = %q, want %q", emails, want)
	}
	// The schema is the migrations', constraints included: an order needs a customer.
	_, err = conn.Exec(ctx, "INSERT INTO orders (customer_id, total_cents) VALUES (999, 100)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23503" {
		t.Errorf("order of a missing customer: err = %v, want a foreign_key_violation (23503)", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO orders (customer_id, total_cents) VALUES (1, 1250)"); err != nil {
		t.Errorf("order of a seeded customer: %v", err)
	}

	// Running the same migrations again changes nothing.
	again := migrations.Spec("testdata/sql", "db").On(net).Start(t)
	if logs := logsOf(t, again); !strings.Contains(logs, "done: 0 applied, 3 already applied") {
		t.Errorf("second run's log:\n%s\nwant every migration skipped", logs)
	}
	if got := appliedVersions(t, conn); !slices.Equal(got, want) {
		t.Errorf("after the second run, schema_migrations = %q, want %q", got, want)
	}
}

// TestBrokenMigrationIsRolledBack feeds the runner a migration that fails halfway:
// the start fails with the database's error, and the database holds the migrations
// before it and nothing of the broken one.
func TestBrokenMigrationIsRolledBack(t *testing.T) {
	t.Parallel()
	net := network.New(t)
	db := postgres.Spec().On(net, "db").Start(t)

	// The first migration as it is, then one under review that creates a table and
	// then seeds it with an order of a customer that does not exist.
	dir := t.TempDir()
	first, err := os.ReadFile(filepath.Join("testdata", "sql", "001_create_customers.sql"))
	if err != nil {
		t.Fatal(err)
	}
	broken := `CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    total_cents bigint NOT NULL
);
INSERT INTO orders (customer_id, total_cents) VALUES (42, 100);
`
	for name, content := range map[string][]byte{
		"001_create_customers.sql":   first,
		"002_orders_with_a_seed.sql": []byte(broken),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Run, not Start: this start is expected to fail, and Run returns the error
	// instead of failing the test. It leaves nothing behind when it fails.
	runner, err := migrations.Spec(dir, "db").On(net).Run(t.Context())
	if err == nil {
		_ = runner.Terminate(context.Background())
		t.Fatal("the runner succeeded with a broken migration")
	}
	if !errors.Is(err, wait.ErrExited) {
		t.Errorf("error does not wrap wait.ErrExited: %v", err)
	}
	for _, want := range []string{"violates foreign key constraint", "002_orders_with_a_seed failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q (the runner's last log lines): %v", want, err)
		}
	}
	t.Logf("the start failed as it should:\n%v", err)

	conn := postgres.Connect(t, db)
	if got, want := appliedVersions(t, conn), []string{"001_create_customers"}; !slices.Equal(got, want) {
		t.Errorf("schema_migrations = %q, want %q", got, want)
	}
	var orders *string
	if err := conn.QueryRow(t.Context(), "SELECT to_regclass('orders')::text").Scan(&orders); err != nil {
		t.Fatal(err)
	}
	if orders != nil {
		t.Errorf("table %s exists: the broken migration was not rolled back", *orders)
	}
}
