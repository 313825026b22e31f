package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/containertest/containertest/containers"
)

// A Template hands each test a database of its own, cloned with CREATE DATABASE ...
// TEMPLATE from a template database that was migrated once, on one PostgreSQL server
// shared by every test (a reused container: see containers.Spec.Reuse). Cloning copies
// files inside the server: a fresh, migrated database costs tens of milliseconds, not
// a server start.
//
// Declare it once, as a package variable, and call Fresh in each test:
//
//	var schema = postgres.NewTemplate(
//		"CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item text NOT NULL)",
//	)
//
//	func TestOrders(t *testing.T) {
//		t.Parallel()
//		conn := schema.Fresh(t) // its own database, with the table, dropped at the end
//		// ...
//	}
//
// The template is named after a hash of the migrations, so changed migrations make a
// new template and an unchanged one is found again by the next go test (the server
// lives on). Creating it is guarded by an advisory lock, so parallel test processes
// migrate once. With CONTAINERTEST_REUSE=off the server is this process's own and the
// watchdog removes it when the process ends.
type Template struct {
	migrations []string
	name       string
	spec       containers.Spec

	once   sync.Once
	server *containers.Container
	err    error

	// ready holds databases cloned ahead by the filler, so that Fresh only has to
	// connect. The filler ends when it has filled it (Ahead databases) or a clone
	// failed; the next Fresh starts it again.
	ready   chan string
	fillMu  sync.Mutex
	filling bool // the filler runs
}

// refillCheck is how often a Fresh that waits for a database makes sure a filler runs.
const refillCheck = 2 * time.Second

// Ahead is how many databases a Template clones before they are asked for.
const Ahead = 3

// NewTemplate returns a template migrated by the SQL statements, run in order, each
// in a transaction of its own, on the server of Spec().
func NewTemplate(migrations ...string) *Template {
	h := sha256.New()
	for _, m := range migrations {
		fmt.Fprintf(h, "%d:%s\n", len(m), m)
	}
	return &Template{
		migrations: migrations,
		name:       "tmpl_" + hex.EncodeToString(h.Sum(nil))[:16],
		spec:       TemplateServerSpec(),
		ready:      make(chan string, Ahead),
	}
}

// TemplateServerSpec is the server of a Template: Spec, reused across test runs,
// with durability off (fsync, synchronous commit, full-page writes), for throw-away
// databases: cloning a template then writes nothing to disk that must be synced.
func TemplateServerSpec() containers.Spec {
	return Spec().Cmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off").Reuse()
}

// Name is the template database's name.
func (tp *Template) Name() string { return tp.name }

// Server returns the shared server, starting (or finding) it and creating the template
// on first use. It fails t on error.
func (tp *Template) Server(t testing.TB) *containers.Container {
	t.Helper()
	containers.RequireDocker(t)
	tp.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		tp.server, tp.err = tp.spec.Run(ctx)
		if tp.err == nil {
			tp.err = tp.ensure(ctx)
		}
	})
	if tp.err != nil {
		t.Fatalf("postgres template %s: %v", tp.name, tp.err)
	}
	return tp.server
}

// dsn returns the URL of database db on the shared server.
func (tp *Template) dsn(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(User, Password),
		Host:     tp.server.Endpoint(Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// ensure creates the template database unless it exists: under an advisory lock, as
// <name>_build, migrated, then renamed, so a template that exists is complete.
func (tp *Template) ensure(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, tp.dsn("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", tp.name); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(hashtext($1))", tp.name)
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tp.name).Scan(&exists); err != nil {
		return fmt.Errorf("look for the template: %w", err)
	}
	dropStale(ctx, admin)
	if exists {
		return nil
	}
	build := pgx.Identifier{tp.name + "_build"}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop a half-built template: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+build); err != nil {
		return fmt.Errorf("create the template: %w", err)
	}
	conn, err := pgx.Connect(ctx, tp.dsn(tp.name+"_build"))
	if err != nil {
		return fmt.Errorf("connect to the template: %w", err)
	}
	for i, m := range tp.migrations {
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, m)
			return err
		}); err != nil {
			conn.Close(context.Background())
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if err := conn.Close(ctx); err != nil {
		return fmt.Errorf("close the template connection: %w", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+build+" RENAME TO "+pgx.Identifier{tp.name}.Sanitize()); err != nil {
		return fmt.Errorf("finish the template: %w", err)
	}
	return nil
}

// Fresh hands t a database of its own cloned from the template (the next ones are
// cloned in the background, Ahead of the tests that will ask) and returns a connection
// to it; the connection is closed and the database dropped when t ends. Databases
// cloned ahead and never taken are dropped by the next process's first use of the
// template. Tests that run in
// parallel each get their own.
func (tp *Template) Fresh(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, _ := tp.FreshDSN(t)
	return conn
}

// FreshDSN is Fresh that also returns the new database's connection URL, for a second
// connection or another driver.
func (tp *Template) FreshDSN(t testing.TB) (*pgx.Conn, string) {
	t.Helper()
	tp.Server(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var db string
	for got := false; !got; {
		tp.startFiller()
		select {
		case db = <-tp.ready:
			got = true
		case <-time.After(refillCheck):
			// Not expected (the filler ends only with a full buffer or after sending a
			// failure), but cheap: make sure a filler runs.
		case <-ctx.Done():
			t.Fatalf("postgres: wait for a database cloned from %s: %v", tp.name, ctx.Err())
		}
	}
	if db == "" {
		t.Fatalf("postgres: cloning %s failed (see the log above)", tp.name)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, tp.dsn("postgres"))
		if err != nil {
			t.Errorf("postgres: connect to drop %s: %v", db, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("postgres: drop %s: %v", db, err)
		}
	})
	dsn := tp.dsn(db)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("postgres: connect to %s: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn, dsn
}

// startFiller starts the filler unless it runs.
func (tp *Template) startFiller() {
	tp.fillMu.Lock()
	defer tp.fillMu.Unlock()
	if !tp.filling {
		tp.filling = true
		go tp.fill()
	}
}

// fill clones databases from the template ahead of Fresh until Ahead of them wait,
// then ends, so that no goroutine of the template outlives the tests that use it
// while the databases it made wait for the next test, however long the tests take.
// A clone that fails is reported to the next Fresh (an empty name), and the filler
// ends; the next Fresh starts it again. Databases still waiting when the process
// exits are dropped by the next process's first use of the template (dropStale).
func (tp *Template) fill() {
	var admin *pgx.Conn
	defer func() {
		if admin != nil {
			admin.Close(context.Background())
		}
	}()
	for {
		// The filler is the only sender: while there is room, a send cannot block.
		tp.fillMu.Lock()
		if len(tp.ready) == cap(tp.ready) {
			tp.filling = false
			tp.fillMu.Unlock()
			return
		}
		tp.fillMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var err error
		if admin == nil {
			admin, err = pgx.Connect(ctx, tp.dsn("postgres"))
		}
		db := newDatabaseName()
		if err == nil {
			err = createFrom(ctx, admin, db, tp.name)
		}
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "postgres: clone %s: %v\n", tp.name, err)
			db = ""
		}
		tp.ready <- db
		if err != nil {
			tp.fillMu.Lock()
			tp.filling = false
			tp.fillMu.Unlock()
			return
		}
	}
}

// newDatabaseName names a database for one test: t_<pid>_<random>, so that dropStale
// can tell the databases of processes that are gone.
func newDatabaseName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("t_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
}

// dropStale drops the test databases left by processes of this host that are gone
// (they were cloned ahead and never taken, or their test process was killed). The
// server is a local container, so the pids are this host's.
func dropStale(ctx context.Context, admin *pgx.Conn) {
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		parts := strings.SplitN(n, "_", 3)
		if len(parts) != 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
}

// processAlive reports whether a process with pid exists on this host.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// createFrom clones template into db. The server refuses while another session is
// connected to the template, or is itself cloning it ("source database is being
// accessed by other users"): that is brief here, so it retries.
func createFrom(ctx context.Context, admin *pgx.Conn, db, template string) error {
	// FILE_COPY copies the template's files (after a checkpoint, cheap without fsync);
	// the default, WAL_LOG, writes every block of the template through the WAL, several
	// times slower for a small template.
	q := "CREATE DATABASE " + pgx.Identifier{db}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize() + " STRATEGY FILE_COPY"
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		_, err := admin.Exec(ctx, q)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" {
			if err != nil {
				return fmt.Errorf("create database %s from %s: %w", db, template, err)
			}
			return nil
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("create database %s from %s: %w (last: %w)", db, template, ctx.Err(), err)
		}
	}
}
