package mariadb_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/examples/mariadb"
	"github.com/containertest/containertest/wait"
)

// TestRootPasswordFromTheEnvironment: root logs in over the published port with the
// password of the environment variable, and not with another.
func TestRootPasswordFromTheEnvironment(t *testing.T) {
	pw := fmt.Sprintf("env-%d", time.Now().UnixNano())
	t.Setenv(mariadb.RootPasswordVar, pw)
	stack := mariadb.Up(t)
	var user string
	if err := mariadb.OpenAs(t, stack.Service("db"), "root", pw).QueryRowContext(t.Context(), "SELECT CURRENT_USER()").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != "root@%" {
		t.Errorf("CURRENT_USER() = %q, want root@%%", user)
	}
	dsn := fmt.Sprintf("root:%s@tcp(%s)/", mariadb.RootPassword, stack.Service("db").Endpoint(mariadb.Port))
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(t.Context()); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("root with another password: %v, want access denied", err)
	}
}

// TestRootPasswordRequired: without the variable the file cannot be used, and the
// error names it.
func TestRootPasswordRequired(t *testing.T) {
	t.Setenv(mariadb.RootPasswordVar, "")
	os.Unsetenv(mariadb.RootPasswordVar)
	_, err := mariadb.Project().Run(t.Context())
	if !errors.Is(err, compose.ErrInvalid) || !strings.Contains(err.Error(), "set "+mariadb.RootPasswordVar) {
		t.Fatalf("err = %v, want ErrInvalid naming %s", err, mariadb.RootPasswordVar)
	}
}

func TestOrders(t *testing.T) {
	stack := mariadb.Up(t)
	db := mariadb.Open(t, stack.Service("db"))
	ctx := t.Context()

	// The schema service ran before Up returned.
	if info, err := stack.Service("schema").Inspect(ctx); err != nil || info.State != "exited" || info.ExitCode != 0 {
		t.Fatalf("schema service: state %q, exit code %d (%v); want exited with 0", info.State, info.ExitCode, err)
	}
	for _, o := range []struct {
		item string
		qty  int
	}{{"apple", 3}, {"pear", 5}} {
		if _, err := db.ExecContext(ctx, "INSERT INTO orders (item, qty) VALUES (?, ?)", o.item, o.qty); err != nil {
			t.Fatal(err)
		}
	}
	var n, total int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*), SUM(qty) FROM orders").Scan(&n, &total); err != nil {
		t.Fatal(err)
	}
	if n != 2 || total != 8 {
		t.Errorf("count %d, sum %d; want 2, 8", n, total)
	}
	// The CHECK constraint of the schema holds.
	_, err := db.ExecContext(ctx, "INSERT INTO orders (item, qty) VALUES ('plum', 0)")
	if err == nil || !strings.Contains(err.Error(), "CONSTRAINT") {
		t.Errorf("qty 0 accepted or wrong error: %v", err)
	}
}

// TestDataSurvivesOnTheNamedVolume removes the server and starts a new one on the
// stack's volume: the data is there, and the new server skips initialisation.
func TestDataSurvivesOnTheNamedVolume(t *testing.T) {
	stack := mariadb.Up(t)
	ctx := t.Context()
	db := mariadb.Open(t, stack.Service("db"))
	if _, err := db.ExecContext(ctx, "INSERT INTO orders (item, qty) VALUES ('fig', 7)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := stack.Service("db").Terminate(ctx); err != nil {
		t.Fatal(err)
	}

	again := containers.Build(filepath.Join(mariadb.Dir(), "mariadb")).
		Env("MARIADB_DATABASE", mariadb.Database).
		Env("MARIADB_USER", mariadb.User).
		Env("MARIADB_PASSWORD", mariadb.Password).
		Mount(stack.Volume("data"), "/var/lib/mysql").
		Expose(mariadb.Port).
		WaitFor(wait.ForLog("ready for connections"), wait.ForPort(mariadb.Port)).
		Start(t)
	logs, err := again.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs, "initialising") {
		t.Errorf("the new server initialised the data directory again:\n%s", logs)
	}
	var qty int
	if err := mariadb.Open(t, again).QueryRowContext(ctx, "SELECT qty FROM orders WHERE item = 'fig'").Scan(&qty); err != nil {
		t.Fatal(err)
	}
	if qty != 7 {
		t.Errorf("qty %d, want 7", qty)
	}
	// Root's password lives in the data too.
	if err := mariadb.OpenAs(t, again, "root", mariadb.RootPasswordFor()).PingContext(ctx); err != nil {
		t.Errorf("root on the new server: %v", err)
	}
}
