package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	testcontainers "github.com/testcontainers/testcontainers-go"

	"github.com/containertest/containertest/internal/bench/tcsuite"
	"github.com/containertest/containertest/internal/bench/tcsuite/postgres"
)

func TestMain(m *testing.M) { tcsuite.Main(m) }

// start starts a server and terminates it when the test ends.
func start(t testing.TB, opts ...testcontainers.ContainerCustomizer) *testcontainers.DockerContainer {
	t.Helper()
	db, err := postgres.Run(t.Context(), opts...)
	testcontainers.CleanupContainer(t, db)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// logsOf returns the container's log.
func logsOf(t testing.TB, c testcontainers.Container) string {
	t.Helper()
	rc, err := c.Logs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCreateInsertQuery runs a small schema against a fresh server: a table with an
// identity key and a check constraint, inserts, an aggregate query, a constraint
// violation and a rolled-back transaction.
func TestCreateInsertQuery(t *testing.T) {
	t.Parallel()
	db := start(t)
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

// volume returns the name of a new named volume, which Docker creates with the first
// container that mounts it. testcontainers-go removes a container's anonymous volumes
// with it but never a named one (its reaper would, by label; it is off here), so the
// test removes it itself when it ends, after its containers.
func volume(t *testing.T) string {
	t.Helper()
	name := "tcsuite-pgdata-" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			t.Errorf("remove volume %s: %v", name, err)
			return
		}
		defer cli.Close()
		if _, err := cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true}); err != nil {
			t.Errorf("remove volume %s: %v", name, err)
		}
	})
	return name
}

// TestDataSurvivesNewContainer keeps the cluster on a named volume: the data written
// through the first container is there when a second container starts on the same
// volume, after the first was stopped and removed.
func TestDataSurvivesNewContainer(t *testing.T) {
	t.Parallel()
	data := testcontainers.ContainerMount{
		Source: testcontainers.DockerVolumeMountSource{
			Name:          volume(t),
			VolumeOptions: &mount.VolumeOptions{Labels: tcsuite.Labels()},
		},
		Target: postgres.DataDir,
	}
	ctx := t.Context()

	first := start(t, testcontainers.WithMounts(data))
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
	grace := 30 * time.Second
	if err := first.Stop(ctx, &grace); err != nil {
		t.Fatal(err)
	}
	if err := first.Terminate(ctx); err != nil {
		t.Fatal(err)
	}

	second := start(t, testcontainers.WithMounts(data))
	logs := logsOf(t, second)
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
