package postgres_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/containertest/containertest/examples/postgres"
	"github.com/containertest/containertest/volume"
)

// TestCreateInsertQuery runs a small schema against a fresh server: a table with an
// identity key and a check constraint, inserts, an aggregate query, a constraint
// violation and a rolled-back transaction.
func TestCreateInsertQuery(t *testing.T) {
	t.Parallel()
	db := postgres.Spec().Start(t)
	conn := postgres.Connect(t, db)
	ctx := t.Context()

	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatalf("query server version: %v", err)
	}
	if !strings.HasPrefix(version, "15.") {
		t.Errorf("server_version = %q, want PostgreSQL 15.x", version)
	}

	if _, err := conn.Exec(ctx, `
		CREATE TABLE orders (
			id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			customer   text NOT NULL,
			total      numeric(10, 2) NOT NULL CHECK (total >= 0),
			created_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
		t.Fatalf("create table: %v", err)
	}

	var ids []int64
	for _, o := range []struct {
		customer, total string
	}{
		{"ada", "12.50"},
		{"grace", "7.25"},
		{"ada", "30.00"},
	} {
		var id int64
		err := conn.QueryRow(ctx,
			"INSERT INTO orders (customer, total) VALUES ($1, $2::numeric) RETURNING id",
			o.customer, o.total).Scan(&id)
		if err != nil {
			t.Fatalf("insert order of %s: %v", o.customer, err)
		}
		ids = append(ids, id)
	}
	if want := []int64{1, 2, 3}; !slices.Equal(ids, want) {
		t.Errorf("identity keys = %v, want %v", ids, want)
	}

	rows, err := conn.Query(ctx, `
		SELECT customer, count(*), sum(total)::text
		FROM orders GROUP BY customer ORDER BY customer`)
	if err != nil {
		t.Fatalf("query totals: %v", err)
	}
	type total struct {
		Customer string
		Orders   int64
		Sum      string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[total])
	if err != nil {
		t.Fatalf("read totals: %v", err)
	}
	want := []total{{"ada", 2, "42.50"}, {"grace", 1, "7.25"}}
	if !slices.Equal(got, want) {
		t.Errorf("totals = %+v, want %+v", got, want)
	}

	// The server, not the test, enforces the constraint: SQLSTATE 23514.
	_, err = conn.Exec(ctx, "INSERT INTO orders (customer, total) VALUES ('mallory', -1)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Errorf("insert with a negative total: err = %v, want a check_violation (23514)", err)
	}

	// A rolled-back transaction leaves nothing behind.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM orders"); err != nil {
		t.Fatalf("delete in transaction: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		t.Fatalf("count orders: %v", err)
	}
	if n != 3 {
		t.Errorf("after rollback: %d orders, want 3", n)
	}
}

// TestDataSurvivesNewContainer keeps the cluster on a named volume: the data written
// through the first container is there when a second container starts on the same
// volume, after the first was stopped and removed.
func TestDataSurvivesNewContainer(t *testing.T) {
	t.Parallel()
	data := volume.New(t)
	spec := postgres.Spec().Mount(data, postgres.DataDir)
	ctx := t.Context()

	first := spec.Start(t)
	conn := postgres.Connect(t, first)
	if _, err := conn.Exec(ctx, "CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO notes VALUES (1, 'written by the first container'), (2, 'still here')"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatalf("close connection: %v", err)
	}
	// A graceful stop (SIGINT: fast shutdown) writes a checkpoint; then the container
	// goes for good. Only the volume is left.
	if err := first.Stop(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := first.Terminate(ctx); err != nil {
		t.Fatal(err)
	}

	second := spec.Start(t)
	logs, err := second.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs, "initialising") {
		t.Errorf("the second container initialised a new cluster instead of using the volume; its log:\n%s", logs)
	}
	if !strings.Contains(logs, "database system was shut down at") {
		t.Errorf("the second container's log does not show a cleanly shut down cluster:\n%s", logs)
	}

	conn = postgres.Connect(t, second)
	rows, err := conn.Query(ctx, "SELECT body FROM notes ORDER BY id")
	if err != nil {
		t.Fatalf("query notes: %v", err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read notes: %v", err)
	}
	if want := []string{"written by the first container", "still here"}; !slices.Equal(bodies, want) {
		t.Errorf("notes in the second container = %q, want %q", bodies, want)
	}
}
