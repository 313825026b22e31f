package containers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

// The examples that need an engine have no Output comment, so that go test compiles
// them but does not run them: an example cannot skip where no engine answers, and
// the suite must. Tests check the same behaviour (TestRunWithoutTest, TestExec).

// A web server in a container, reached on its published port; it prints "hello". In
// a test, use Start(t) instead of Run: it fails the test on error and removes the
// container at the end of the test.
func ExampleSpec_Run() {
	ctx := context.Background()
	web, err := containers.Image("busybox:latest").
		File("/www/index.html", []byte("hello\n"), 0o644).
		Cmd("httpd", "-f", "-p", "8080", "-h", "/www").
		Expose("8080/tcp").
		WaitFor(wait.ForHTTP("/index.html").Port("8080/tcp")).
		Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer web.Terminate(ctx)

	resp, err := http.Get(web.URL("http", "8080") + "/index.html")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
}

// One-shot containers report their result through their exit code and logs.
func ExampleSpec_Start() {
	_ = func(t *testing.T) {
		job := containers.Image("busybox:latest").
			Cmd("sh", "-c", "echo migrated").
			WaitFor(wait.ForExit(0)).
			Start(t)
		logs, _ := job.Logs(t.Context())
		fmt.Print(logs)
	}
}

// Exec runs a command in a running container. This one prints
// exit 2, stdout "out\n", stderr "err\n".
func ExampleContainer_Exec() {
	ctx := context.Background()
	c, err := containers.Image("busybox:latest").Cmd("sleep", "60").WaitFor().Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Terminate(ctx)
	r, err := c.Exec(ctx, "sh", "-c", "echo out; echo err >&2; exit 2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("exit %d, stdout %q, stderr %q\n", r.ExitCode, r.Stdout, r.Stderr)
}

// StartAll starts a stack in parallel, in dependency order.
func ExampleStartAll() {
	_ = func(t *testing.T) {
		db := containers.Image("busybox:latest").Named("db").Cmd("sleep", "60").WaitFor()
		api := containers.Image("busybox:latest").Named("api").Cmd("sleep", "60").WaitFor().DependsOn("db")
		cs := containers.StartAll(t, db, api)
		fmt.Println(cs[0].Name(), cs[1].Name())
	}
}

// A Group starts a stack with settings of its own: here, one container at a time.
func ExampleGroup_StartAll() {
	_ = func(t *testing.T) {
		a := containers.Image("busybox:latest").Cmd("sleep", "60").WaitFor()
		b := containers.Image("busybox:latest").Cmd("sleep", "60").WaitFor()
		cs := containers.Group{MaxParallel: 1}.StartAll(t, a, b)
		fmt.Println(len(cs))
	}
}

// A database whose data directory is a named volume is stopped gracefully at
// teardown (its stop signal, then up to 30 s here) so that the next container on the
// volume finds its files intact; KillOnTeardown would kill it at once instead.
func ExampleSpec_GracefulStop() {
	_ = func(t *testing.T, data *volume.Volume) {
		containers.Image("postgres:16").
			Env("POSTGRES_PASSWORD", "secret").
			Mount(data, "/var/lib/postgresql/data").
			GracefulStop(30 * time.Second).
			Start(t)
	}
}
