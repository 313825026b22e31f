package migrations_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	testcontainers "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/containertest/containertest/internal/bench/tcsuite"
	"github.com/containertest/containertest/internal/bench/tcsuite/migrations"
	"github.com/containertest/containertest/internal/bench/tcsuite/postgres"
)

func TestMain(m *testing.M) { tcsuite.Main(m) }

// sqlDir holds the example's migrations.
var sqlDir = tcsuite.Testdata("migrations", "sql")

// newNetwork creates a network and removes it when the test ends.
func newNetwork(t testing.TB) *testcontainers.DockerNetwork {
	t.Helper()
	nw, err := network.New(t.Context(), network.WithLabels(tcsuite.Labels()))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatal(err)
	}
	return nw
}

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
func logsOf(t testing.TB, c testcontainers.Container) string {
	t.Helper()
	logs, err := migrations.Logs(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// TestMigrationsRunBeforeUse starts the database, then the migration runner, which
// is ready once it has exited with code 0, so the schema is there for whatever comes
// next. A second run applies nothing.
func TestMigrationsRunBeforeUse(t *testing.T) {
	t.Parallel()
	nw := newNetwork(t)

	// No dependency order in testcontainers-go: one start after the other.
	db, err := postgres.Run(t.Context(), network.WithNetwork([]string{"db"}, nw))
	testcontainers.CleanupContainer(t, db)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := migrations.Run(t.Context(), sqlDir, "db", network.WithNetwork(nil, nw))
	testcontainers.CleanupContainer(t, runner)
	if err != nil {
		t.Fatal(err)
	}

	st, err := runner.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Running || st.ExitCode != 0 {
		t.Errorf("runner: running %v, exit code %d; want exited with 0", st.Running, st.ExitCode)
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
	again, err := migrations.Run(t.Context(), sqlDir, "db", network.WithNetwork(nil, nw))
	testcontainers.CleanupContainer(t, again)
	if err != nil {
		t.Fatal(err)
	}
	if logs := logsOf(t, again); !strings.Contains(logs, "done: 0 applied, 3 already applied") {
		t.Errorf("second run's log:\n%s\nwant every migration skipped", logs)
	}
	if got := appliedVersions(t, conn); !slices.Equal(got, want) {
		t.Errorf("after the second run, schema_migrations = %q, want %q", got, want)
	}
}

// TestBrokenMigrationIsRolledBack feeds the runner a migration that fails halfway:
// the run fails with the database's error, and the database holds the migrations
// before it and nothing of the broken one.
func TestBrokenMigrationIsRolledBack(t *testing.T) {
	t.Parallel()
	nw := newNetwork(t)
	db, err := postgres.Run(t.Context(), network.WithNetwork([]string{"db"}, nw))
	testcontainers.CleanupContainer(t, db)
	if err != nil {
		t.Fatal(err)
	}

	// The first migration as it is, then one under review that creates a table and
	// then seeds it with an order of a customer that does not exist.
	dir := t.TempDir()
	first, err := os.ReadFile(filepath.Join(sqlDir, "001_create_customers.sql"))
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

	// testcontainers-go's wait.ForExit accepts any exit code, so the runner "starts";
	// migrations.Run checks the code and fails with the runner's last log lines.
	runner, err := migrations.Run(t.Context(), dir, "db", network.WithNetwork(nil, nw))
	testcontainers.CleanupContainer(t, runner)
	if err == nil {
		t.Fatal("the runner succeeded with a broken migration")
	}
	if !errors.Is(err, migrations.ErrFailed) {
		t.Errorf("error does not wrap migrations.ErrFailed: %v", err)
	}
	for _, want := range []string{"violates foreign key constraint", "002_orders_with_a_seed failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q (the runner's last log lines): %v", want, err)
		}
	}
	t.Logf("the run failed as it should:\n%v", err)

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
