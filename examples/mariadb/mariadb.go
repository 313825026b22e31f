// Package mariadb is an example suite: a Compose file (testdata/compose.yaml) with a
// MariaDB server on a named volume and a one-shot service that loads the schema,
// started with the compose package and tested through a real driver
// (go-sql-driver/mysql) over the published port.
//
// The server image is built from testdata/mariadb/Dockerfile with Debian's
// packages on the project's Debian base image; nothing is pulled from a registry.
// Up returns once the server's health check passes and the schema service has
// exited with code 0 (it is a "service_completed_successfully" dependency... of
// nothing but the test: the file's depends_on makes it wait for a healthy server).
//
//	func TestOrders(t *testing.T) {
//		stack := mariadb.Up(t)
//		db := mariadb.Open(t, stack.Service("db"))
//		// ... INSERT, SELECT ...
//	}
package mariadb

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	_ "github.com/go-sql-driver/mysql" // the database/sql driver

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// The application's database, user and password (the file's defaults).
const (
	Database = "shop"
	User     = "shop"
	Password = "shop-secret"
)

// RootPasswordVar is the environment variable the file takes root's password from,
// as the tutorial's MySQL service does; RootPassword is what Up uses when the
// process environment does not set it.
const (
	RootPasswordVar = "MARIADB_ROOT_PASSWORD"
	RootPassword    = "root-secret"
)

// Port is the server's port in the container.
const Port = "3306/tcp"

// Dir is the directory of the Compose file.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata")
}

// Project is the Compose project: the schema service is one-shot, so the stack is up
// when it has exited 0.
func Project() compose.Project {
	return compose.File(filepath.Join(Dir(), "compose.yaml")).
		WaitFor("schema", wait.ForExit(0))
}

// Up starts the stack for t, with root's password from the environment variable
// RootPasswordVar, or RootPassword when it is not set.
func Up(t testing.TB) *compose.Stack {
	t.Helper()
	p := Project()
	if os.Getenv(RootPasswordVar) == "" {
		p = p.Env(RootPasswordVar, RootPassword)
	}
	return p.Up(t)
}

// RootPasswordFor is the root password Up gives a stack.
func RootPasswordFor() string {
	if pw := os.Getenv(RootPasswordVar); pw != "" {
		return pw
	}
	return RootPassword
}

// Open opens a connection pool to the server of c through its published port, as the
// application's user, and closes it when t ends.
func Open(t testing.TB, c *containers.Container) *sql.DB {
	t.Helper()
	return OpenAs(t, c, User, Password)
}

// OpenAs is Open as another user.
func OpenAs(t testing.TB, c *containers.Container, user, password string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=true", user, password, c.Endpoint(Port), Database)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("mariadb: open %s: %v", c.Endpoint(Port), err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("mariadb: ping %s: %v", c.Endpoint(Port), err)
	}
	return db
}
