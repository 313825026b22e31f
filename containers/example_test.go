package containers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// A web server in a container, reached on its published port. In a test, use
// Start(t) instead of Run: it fails the test on error and removes the container at
// the end of the test.
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
	// Output: hello
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

// Exec runs a command in a running container.
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
	// Output: exit 2, stdout "out\n", stderr "err\n"
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
