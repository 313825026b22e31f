package wait_test

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/wait"
)

// fakeSQL is a database/sql driver for the tests of ForSQL. Its data source name is
// "fake://HOST:PORT": a connection dials that address and wants the server to greet it
// with "ready"; the query "SELECT 1" then returns one row, "SELECT broken" fails, and a
// query naming a table fails until that many queries have been made ("SELECT * FROM t
// AFTER 3").
type fakeSQL struct{ queries atomic.Int32 }

var fakeDriver = &fakeSQL{}

func init() { sql.Register("containertest-fake", fakeDriver) }

func (d *fakeSQL) Open(name string) (driver.Conn, error) {
	addr, ok := strings.CutPrefix(name, "fake://")
	if !ok {
		return nil, fmt.Errorf("fake: bad data source name %q", name)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	greeting, err := bufio.NewReader(c).ReadString('\n')
	if strings.TrimSpace(greeting) != "ready" {
		return nil, fmt.Errorf("fake: greeting %q: %v", greeting, err)
	}
	return &fakeConn{d}, nil
}

type fakeConn struct{ d *fakeSQL }

func (c *fakeConn) Prepare(q string) (driver.Stmt, error) { return &fakeStmt{c.d, q}, nil }
func (c *fakeConn) Close() error                          { return nil }
func (c *fakeConn) Begin() (driver.Tx, error)             { return nil, errors.New("fake: no transactions") }

type fakeStmt struct {
	d *fakeSQL
	q string
}

func (s *fakeStmt) Close() error  { return nil }
func (s *fakeStmt) NumInput() int { return 0 }
func (s *fakeStmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("fake: no exec")
}
func (s *fakeStmt) Query([]driver.Value) (driver.Rows, error) {
	n := s.d.queries.Add(1)
	var after int32
	fmt.Sscanf(s.q, "SELECT * FROM t AFTER %d", &after)
	switch {
	case s.q == "SELECT 1":
		return &fakeRows{n: 1}, nil
	case after > 0:
		if n < after {
			return nil, fmt.Errorf("fake: relation \"t\" does not exist (query %d)", n)
		}
		return &fakeRows{n: 2}, nil
	}
	return nil, fmt.Errorf("fake: syntax error in %q", s.q)
}

type fakeRows struct{ n int }

func (r *fakeRows) Columns() []string { return []string{"x"} }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.n == 0 {
		return io.EOF
	}
	r.n--
	dest[0] = int64(1)
	return nil
}

// greeter publishes, as "5432/tcp" of f, a server that greets every connection with
// "ready" once ready is true, and closes it at once before.
func greeter(t *testing.T, f *fakeTarget, ready *atomic.Bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	f.ports["5432/tcp"] = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if ready.Load() {
				io.WriteString(c, "ready\n")
			}
			c.Close()
		}
	}()
}

func fakeDSN(hostPort string) string { return "fake://" + hostPort }

func TestForSQLRetriesUntilTheQuerySucceeds(t *testing.T) {
	f := newFake()
	var ready atomic.Bool
	greeter(t, f, &ready)
	done := async(t.Context(), f, wait.ForSQL("containertest-fake", "5432", fakeDSN), long)
	time.Sleep(50 * time.Millisecond)
	requirePending(t, done, "the server does not greet yet")
	ready.Store(true)
	require.NoError(t, <-done)

	start := fakeDriver.queries.Load()
	q := fmt.Sprintf("SELECT * FROM t AFTER %d", start+3)
	require.NoError(t, wait.Ready(t.Context(), f, wait.ForSQL("containertest-fake", "5432/tcp", fakeDSN).Query(q), long))
	assert.EqualValues(t, start+3, fakeDriver.queries.Load(), "the query is retried until it succeeds, then no more")
}

func TestForSQLTimeoutReportsTheDriverError(t *testing.T) {
	f := newFake()
	var ready atomic.Bool
	ready.Store(true)
	greeter(t, f, &ready)
	err := wait.Ready(t.Context(), f, wait.ForSQL("containertest-fake", "5432", fakeDSN).Query("SELECT broken"), 300*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), `fake: syntax error in "SELECT broken"`)
	assert.Contains(t, err.Error(), `SQL "SELECT broken" via containertest-fake on 5432/tcp`)
}

func TestForSQLBadInput(t *testing.T) {
	f := newFake()
	f.ports["5432/tcp"] = 1
	for name, c := range map[string]struct {
		s    *wait.SQLStrategy
		want string
	}{
		"unknown driver": {wait.ForSQL("nosuch", "5432", fakeDSN), `no database/sql driver "nosuch" is registered (registered: `},
		"nil dsn":        {wait.ForSQL("containertest-fake", "5432", nil), "nil dsn function"},
		"empty query":    {wait.ForSQL("containertest-fake", "5432", fakeDSN).Query(" "), "empty query"},
		"udp port":       {wait.ForSQL("containertest-fake", "5432/udp", fakeDSN), `needs a TCP port, not "5432/udp"`},
		"unpublished":    {wait.ForSQL("containertest-fake", "3306", fakeDSN), "look up port"},
	} {
		t.Run(name, func(t *testing.T) {
			err := wait.Ready(t.Context(), f, c.s, long)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
