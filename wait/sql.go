package wait

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SQLStrategy waits until a query through a database/sql driver succeeds. See ForSQL.
type SQLStrategy struct {
	driver  string
	port    string
	dsn     func(hostPort string) string
	query   string
	timeout time.Duration
}

// ForSQL waits until the query (default "SELECT 1"; see Query) succeeds on a database
// in the container, reached through the database/sql driver registered as driverName
// (the test imports the driver it uses, such as pgx's "pgx" or go-sql-driver's
// "mysql"; containertest itself depends on none). dsn builds the data source name from
// the published address of the container's TCP port port, "127.0.0.1:49153":
//
//	wait.ForSQL("pgx", "5432/tcp", func(hostPort string) string {
//		return "postgres://postgres:secret@" + hostPort + "/postgres?sslmode=disable"
//	})
//
// Each attempt opens a fresh connection, runs the query and reads all its rows; a
// failed attempt is retried after a growing delay, and a timeout reports the last
// driver error. A driver that is not registered, a nil dsn, or a data source name that
// the driver rejects before connecting end the wait at once.
func ForSQL(driverName, port string, dsn func(hostPort string) string) *SQLStrategy {
	return &SQLStrategy{driver: driverName, port: port, dsn: dsn, query: "SELECT 1"}
}

// Query returns a copy of s that runs query instead of "SELECT 1": a query that
// succeeds only once the database is really usable ("SELECT 1 FROM users LIMIT 1").
func (s *SQLStrategy) Query(query string) *SQLStrategy {
	c := *s
	c.query = query
	return &c
}

// Timeout returns a copy of s with a deadline of its own.
func (s *SQLStrategy) Timeout(d time.Duration) *SQLStrategy {
	c := *s
	c.timeout = d
	return &c
}

// String describes the strategy for messages: `SQL "SELECT 1" via pgx on 5432/tcp`.
func (s *SQLStrategy) String() string {
	return fmt.Sprintf("SQL %q via %s on %s", s.query, s.driver, tcpPortName(s.port))
}

func (*SQLStrategy) selfDescribing() {}

// WaitUntilReady implements Strategy.
func (s *SQLStrategy) WaitUntilReady(ctx context.Context, t Target) error {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.timeout)
	defer cancel()
	registered := "none"
	if ds := sql.Drivers(); len(ds) > 0 {
		registered = strings.Join(ds, ", ")
	}
	switch {
	case s.dsn == nil:
		return fmt.Errorf("%s: nil dsn function", s)
	case strings.TrimSpace(s.query) == "":
		return fmt.Errorf("%s: empty query", s)
	case !slices.Contains(sql.Drivers(), s.driver):
		return fmt.Errorf("%s: no database/sql driver %q is registered (registered: %s); import the driver's package in the test",
			s, s.driver, registered)
	}
	if p := tcpPortName(s.port); !strings.HasSuffix(p, "/tcp") || p == "/tcp" {
		return fmt.Errorf("%s: a database needs a TCP port, not %q", s, s.port)
	}
	hp, err := t.LookupPort(tcpPortName(s.port))
	if err != nil {
		return fmt.Errorf("%s: look up port: %w", s, err)
	}
	hostPort := net.JoinHostPort(t.Host(), strconv.Itoa(hp))
	db, err := sql.Open(s.driver, s.dsn(hostPort))
	if err != nil {
		return fmt.Errorf("%s: open: %w", s, err)
	}
	defer db.Close()
	// One connection at a time, never kept: each attempt dials afresh, as a test would.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(0)
	who := describeAt{s, hostPort}
	b := newBackoff(probePace)
	var last string
	for {
		err := s.attempt(ctx, db)
		if err == nil {
			return nil
		}
		if isPermanent(err) {
			return fmt.Errorf("%s: %w", who, err)
		}
		if !over(ctx) || last == "" {
			last = err.Error()
		}
		if ctx.Err() != nil || !b.sleep(ctx) {
			return notReady(ctx, who, start, last)
		}
	}
}

// attempt runs the query once and reads its rows.
func (s *SQLStrategy) attempt(ctx context.Context, db *sql.DB) error {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	rows, err := db.QueryContext(actx, s.query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}
