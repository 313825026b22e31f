package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/errdefs"
	"github.com/containertest/containertest/internal/engine/docker/stdcopy"
)

// ErrNotRunning is wrapped by the error of an Exec in a container that is not running.
var ErrNotRunning = errors.New("container is not running")

// notRunning reports whether the engine refused an exec because the container is not
// running: Docker answers 409 Conflict ("Container ... is not running"), podman 500
// ("can only create exec sessions on running containers: container state improper").
func notRunning(err error) bool {
	msg := err.Error()
	return errdefs.IsConflict(err) && strings.Contains(msg, "is not running") || strings.Contains(msg, "container state improper")
}

// Exec runs cmd in the container and returns its exit code with stdout and stderr
// kept apart. A non-zero exit code is not an error; failing to run the command is.
func (c *Container) Exec(ctx context.Context, cmd ...string) (ExecResult, error) {
	return c.ExecWith(ctx, ExecOptions{}, cmd...)
}

// ExecOptions changes how Exec runs a command.
type ExecOptions struct {
	Env     []string // extra KEY=VALUE pairs
	User    string   // user[:group]; default: the container's user
	WorkDir string   // default: the container's working directory
}

// ExecWith is Exec with options.
func (c *Container) ExecWith(ctx context.Context, opts ExecOptions, cmd ...string) (ExecResult, error) {
	if len(cmd) == 0 {
		return ExecResult{}, fmt.Errorf("exec in container %s: empty command", c.name)
	}
	cr, err := c.eng.Client.ContainerExecCreate(ctx, c.id, container.ExecOptions{
		Cmd: cmd, Env: opts.Env, User: opts.User, WorkingDir: opts.WorkDir,
		AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		if notRunning(err) {
			return ExecResult{}, fmt.Errorf("exec %q in container %s: %w (%w)", strings.Join(cmd, " "), c.name, ErrNotRunning, err)
		}
		return ExecResult{}, fmt.Errorf("exec %q in container %s: %w", strings.Join(cmd, " "), c.name, err)
	}
	att, err := c.eng.Client.ContainerExecAttach(ctx, cr.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: attach: %w", strings.Join(cmd, " "), c.name, err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		att.Close()
		<-done
		return ExecResult{}, fmt.Errorf("exec %q in container %s: %w", strings.Join(cmd, " "), c.name, ctx.Err())
	}
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: read output: %w", strings.Join(cmd, " "), c.name, err)
	}
	ins, err := c.eng.Client.ContainerExecInspect(ctx, cr.ID)
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: inspect: %w", strings.Join(cmd, " "), c.name, err)
	}
	if ins.Running {
		// The streams closed but the process is still being reaped; ask again briefly.
		for i := 0; i < 50 && ins.Running; i++ {
			time.Sleep(10 * time.Millisecond)
			if ins, err = c.eng.Client.ContainerExecInspect(ctx, cr.ID); err != nil {
				return ExecResult{}, fmt.Errorf("exec %q in container %s: inspect: %w", strings.Join(cmd, " "), c.name, err)
			}
		}
	}
	return ExecResult{ExitCode: ins.ExitCode, Stdout: stdout.String(), Stderr: stderr.String()}, nil
}
