package wait_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
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

// Errors say what the strategy last saw, and can be told apart with errors.Is. Here a
// container that never listens is waited for again, after its start, through
// Container.WaitFor.
func Example_errors() {
	ctx := context.Background()
	c, err := containers.Image("busybox:latest").Cmd("sleep", "600").Expose("5432/tcp").WaitFor().Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Terminate(ctx)

	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err = c.WaitFor(wctx, wait.ForPort("5432/tcp"))
	switch {
	case errors.Is(err, wait.ErrExited):
		fmt.Println("the container died")
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("not ready in time:", err)
	}
}

// greeting is a strategy of a user's own: ready when the server on port greets with a
// line that starts with want. It uses nothing of the Target but Host and LookupPort.
type greeting struct{ port, want string }

func (g greeting) WaitUntilReady(ctx context.Context, t wait.Target) error {
	for {
		err := g.check(ctx, t)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("greeting %q from %s: %w (last: %v)", g.want, t.Name(), ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (g greeting) check(ctx context.Context, t wait.Target) error {
	port, err := t.LookupPort(g.port)
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
	line, err := bufio.NewReader(conn).ReadString('\n')
	if !strings.HasPrefix(line, g.want) {
		return fmt.Errorf("greeting %q (%v)", line, err)
	}
	return nil
}

// fakeServer is a wait.Target for testing a strategy without an engine: its one port
// is a listener of the test process.
type fakeServer struct{ addr *net.TCPAddr }

func (f fakeServer) Name() string { return "fake" }
func (f fakeServer) Host() string { return f.addr.IP.String() }
func (f fakeServer) LookupPort(port string) (int, error) {
	if port != "2525/tcp" {
		return 0, fmt.Errorf("port %s is not published", port)
	}
	return f.addr.Port, nil
}
func (f fakeServer) FollowLogs(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (f fakeServer) Exec(context.Context, ...string) (wait.ExecResult, error) {
	return wait.ExecResult{}, errors.New("the fake runs no commands")
}

// A strategy of your own implements Strategy against the small Target, and is tested
// with a fake of it; containers.Spec.WaitFor then takes it like any other.
func Example_customStrategy() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(conn, "220 ready\r\n")
			conn.Close()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	target := fakeServer{ln.Addr().(*net.TCPAddr)}
	fmt.Println(greeting{port: "2525/tcp", want: "220"}.WaitUntilReady(ctx, target))
	fmt.Println(greeting{port: "25/tcp", want: "220"}.check(ctx, target))
	// Output:
	// <nil>
	// port 25/tcp is not published
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
