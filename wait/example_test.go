package wait_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// A container is ready when its strategies say so; Start returns only then, and fails
// the test at once, with the exit code and the last log lines, if the container dies
// while it waits.
func Example() {
	_ = func(t *testing.T) {
		web := containers.Image("busybox:latest").
			Cmd("sh", "-c", "mkdir /www && echo ok >/www/health && echo serving && exec httpd -f -p 8080 -h /www").
			Expose("8080/tcp").
			WaitFor(
				wait.ForLog("serving"),
				wait.ForHTTP("/health").Port("8080/tcp").Body("ok"),
			).
			Start(t)
		fmt.Println(web.URL("http", "8080/tcp"))
	}
}

// Errors say what the strategy last saw, and can be told apart with errors.Is.
func ExampleReady() {
	ctx := context.Background()
	c, err := containers.Image("busybox:latest").Cmd("sleep", "600").Expose("5432/tcp").WaitFor().Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Terminate(ctx)

	err = wait.Ready(ctx, c, wait.ForPort("5432/tcp"), 500*time.Millisecond)
	switch {
	case errors.Is(err, wait.ErrExited):
		fmt.Println("the container died")
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("not ready in time:", err)
	}
}

// An init container is ready when it has exited with code 0; another exit code fails
// at once.
func ExampleForExit() {
	_ = func(t *testing.T) {
		containers.Image("busybox:latest").
			Cmd("sh", "-c", "echo migrating && sleep 1 && echo migrated").
			WaitFor(wait.ForExit(0), wait.ForLog("migrated")).
			Start(t)
	}
}

// A check of the test's own, repeated until it passes: here, a greeting on the port.
func ExampleForFunc() {
	greets := wait.ForFunc(func(ctx context.Context, t wait.Target) error {
		port, err := t.LookupPort("2525/tcp")
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host(), strconv.Itoa(port)))
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 3)
		if _, err := conn.Read(buf); err != nil {
			return fmt.Errorf("no greeting: %w", err)
		}
		if string(buf) != "220" {
			return fmt.Errorf("greeting %q, want 220", buf)
		}
		return nil
	})
	_ = containers.Image("busybox:latest").
		Cmd("nc", "-ll", "-p", "2525", "-e", "echo", "220 ready").
		Expose("2525/tcp").
		WaitFor(greets.Timeout(30 * time.Second))
}

// Any is satisfied by the first strategy that is; the others stop.
func ExampleAny() {
	_ = wait.Any(
		wait.ForLog("database system is ready"),
		wait.ForExec("pg_isready", "-U", "postgres"),
	).Timeout(time.Minute)
}

// A Docker health check, from the image or set in the spec, followed through the
// engine's health events.
func ExampleForHealthy() {
	_ = containers.Image("busybox:latest").
		Cmd("sh", "-c", "sleep 1 && touch /tmp/up && exec sleep 600").
		HealthCheck(containers.Health{
			Test:     []string{"CMD-SHELL", "test -f /tmp/up"},
			Interval: 200 * time.Millisecond,
		}).
		WaitFor(wait.ForHealthy())
}
