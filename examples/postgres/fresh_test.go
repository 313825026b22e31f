package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/examples/postgres"
)

var schema = postgres.NewTemplate(
	"CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item text NOT NULL)",
	"INSERT INTO orders (item) VALUES ('seed')",
)

// Parallel tests each get a database of their own, migrated, holding only the seed
// row and what they wrote themselves; the databases are dropped when they end.
func TestFreshDatabasePerTest(t *testing.T) {
	var dbs []string
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			_, dsn := schema.FreshDSN(t) // the parent's: dropped after the group
			u, _ := url.Parse(dsn)
			dbs = append(dbs, strings.TrimPrefix(u.Path, "/"))
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				conn := schema.Fresh(t)
				ctx := t.Context()
				item := fmt.Sprintf("from test %d", i)
				if _, err := conn.Exec(ctx, "INSERT INTO orders (item) VALUES ($1)", item); err != nil {
					t.Fatalf("insert: %v", err)
				}
				var items []string
				rows, err := conn.Query(ctx, "SELECT item FROM orders ORDER BY id")
				if err != nil {
					t.Fatalf("query: %v", err)
				}
				for rows.Next() {
					var s string
					if err := rows.Scan(&s); err != nil {
						t.Fatal(err)
					}
					items = append(items, s)
				}
				if rows.Err() != nil {
					t.Fatal(rows.Err())
				}
				if len(items) != 2 || items[0] != "seed" || items[1] != item {
					t.Errorf("orders = %q, want the seed row and this test's row only", items)
				}
			})
		}
	})
	admin := postgres.Connect(t, schema.Server(t))
	for _, db := range dbs {
		var n int
		if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s outlived its test", db)
		}
	}
	var tmpl int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", schema.Name()).Scan(&tmpl); err != nil || tmpl != 1 {
		t.Errorf("template %s: %d found (%v)", schema.Name(), tmpl, err)
	}
}

// A database cloned ahead by a process that is gone is dropped by the next process's
// first use of a template; one of a live process is left alone.
func TestStaleClonesDropped(t *testing.T) {
	admin := postgres.Connect(t, schema.Server(t))
	ctx := t.Context()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("t_%d_stale", dead.Process.Pid)
	live := fmt.Sprintf("t_%d_live", os.Getpid())
	for _, db := range []string{stale, live} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+live) })
	other := postgres.NewTemplate(fmt.Sprintf("CREATE TABLE t%d (id int)", time.Now().UnixNano()))
	other.Fresh(t)
	for db, want := range map[string]int{stale: 0, live: 1} {
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("database %s: %d found, want %d", db, n, want)
		}
	}
}

// Databases cloned ahead wait for the next test however long the tests take: a test
// slower than a few seconds still finds one ready (the filler used to drop them all
// after 2 s without a taker, so every test after a slow one waited for a clone).
func TestClonesAheadOutlastSlowTests(t *testing.T) {
	tp := postgres.NewTemplate(fmt.Sprintf("CREATE TABLE slow%d (id int)", time.Now().UnixNano()))
	admin := postgres.Connect(t, tp.Server(t))
	ctx := t.Context()
	first := ""
	waiting := func() map[string]bool {
		t.Helper()
		rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", fmt.Sprintf("t\\_%d\\_%%", os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		names := map[string]bool{}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names[n] = true
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		u, _ := url.Parse(first)
		delete(names, strings.TrimPrefix(u.Path, "/"))
		return names
	}
	// Other tests of this process may hold clones of other templates; this
	// template's filler starts with the first Fresh.
	before := waiting()
	_, first = tp.FreshDSN(t)
	deadline := time.Now().Add(time.Minute)
	for len(waiting())-len(before) < postgres.Ahead && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	ahead := waiting()
	if len(ahead)-len(before) < postgres.Ahead {
		t.Fatalf("%d databases cloned ahead after a minute, want %d", len(ahead)-len(before), postgres.Ahead)
	}
	time.Sleep(5 * time.Second) // a slow test
	still := waiting()
	for db := range ahead {
		if !still[db] {
			t.Fatalf("database %s, cloned ahead, was dropped during a slow test", db)
		}
	}
	_, next := tp.FreshDSN(t)
	u, _ := url.Parse(next)
	if db := strings.TrimPrefix(u.Path, "/"); !ahead[db] || before[db] {
		t.Errorf("the next test got %s, not one of the databases cloned ahead", db)
	}
}
