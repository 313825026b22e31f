// Package migrations is the migrations example suite (examples/migrations) written
// with testcontainers-go: a one-shot container applies SQL migrations with psql to the
// PostgreSQL server of the postgres suite before anything uses it.
//
// The runner is the example's migrate.sh in a container of the PostgreSQL image,
// built from the same context with the same arguments (testcontainers-go builds it
// again; the engine's layer cache makes that quick while the server's image exists).
// testcontainers-go has no dependency order between containers and no wait that
// checks an exit code: the test starts the server first, then the runner, which is
// ready when it has exited (wait.ForExit), and Run checks the exit code itself.
package migrations

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"
	testcontainers "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/internal/bench/tcsuite"
	"github.com/containertest/containertest/internal/bench/tcsuite/postgres"
)

// ErrFailed is wrapped by Run's error when the runner exits with a code other than 0.
var ErrFailed = errors.New("migrations failed")

// Options describe a migration runner that applies the SQL files in the host directory
// sqlDir to the database of a postgres server that the runner's network knows as
// dbHost. Attach it to that network with an option after them.
//
// testcontainers-go copies a host directory into the container as a directory of the
// same name under the parent of the path it is given, which must exist in the image:
// the script goes to /opt/migrate, the SQL files to /tmp/<base name of sqlDir>.
func Options(sqlDir, dbHost string) []testcontainers.ContainerCustomizer {
	target := path.Join("/tmp", filepath.Base(sqlDir))
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithDockerfile(tcsuite.Dockerfile(postgres.ContextDir(), "PG_MAJOR", "15")),
		testcontainers.WithEnv(map[string]string{
			"PGHOST":     dbHost,
			"PGUSER":     postgres.User,
			"PGPASSWORD": postgres.Password,
			"PGDATABASE": postgres.Database,
		}),
		// The image's entrypoint runs any command other than "postgres" as given.
		testcontainers.WithConfigModifier(func(c *container.Config) { c.User = "nobody" }),
		testcontainers.WithFiles(
			testcontainers.ContainerFile{HostFilePath: tcsuite.Testdata("migrations", "migrate"), ContainerFilePath: "/opt/migrate", FileMode: 0o755},
			testcontainers.ContainerFile{HostFilePath: sqlDir, ContainerFilePath: target, FileMode: 0o755},
		),
		testcontainers.WithCmd("sh", "/opt/migrate/migrate.sh", target),
		// The request exposes no port, so testcontainers-go publishes the image's
		// (5432): on 127.0.0.1 at least.
		tcsuite.Loopback(postgres.Port),
		testcontainers.WithLabels(tcsuite.Labels()),
		testcontainers.WithWaitStrategy(wait.ForExit()),
	}
}

// Run runs the migrations of Options(sqlDir, dbHost) and opts and returns once the
// runner has exited. When it exited with a code other than 0, the error wraps
// ErrFailed and ends with the runner's last log lines. The caller terminates the
// container (see testcontainers.CleanupContainer), also when Run fails.
func Run(ctx context.Context, sqlDir, dbHost string, opts ...testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, error) {
	c, err := testcontainers.Run(ctx, "", append(Options(sqlDir, dbHost), opts...)...)
	if err != nil {
		return c, err
	}
	st, err := c.State(ctx)
	if err != nil {
		return c, err
	}
	if st.ExitCode != 0 {
		logs, _ := Logs(ctx, c)
		return c, fmt.Errorf("%w: runner exited with code %d; its last log lines:\n%s", ErrFailed, st.ExitCode, tail(logs, 10))
	}
	return c, nil
}

// Logs returns the container's log.
func Logs(ctx context.Context, c testcontainers.Container) (string, error) {
	rc, err := c.Logs(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
