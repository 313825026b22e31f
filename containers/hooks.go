package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Hooks are functions run at points of a container's life, for what the Spec does not
// cover. Every field is optional. Add them with Spec.Hooks; several sets run in the
// order added. An error of a create, start or ready hook fails the start (and Start,
// Run and StartAll remove the container); an error of a stop hook is returned by Stop;
// an error of a terminate hook is returned by Terminate (or fails the test at
// teardown), and the container is removed all the same.
type Hooks struct {
	// BeforeCreate runs before the container is created (and before its image is
	// built or pulled), with the spec.
	BeforeCreate func(ctx context.Context, s Spec) error
	// AfterCreate runs once the container is created, with its files copied in and
	// its networks connected, before it starts.
	AfterCreate func(ctx context.Context, c *Container) error
	// BeforeStart and AfterStart run around every start: the first one, Container.Start
	// and Restart. AfterStart runs before the wait for readiness and before the
	// spec's AfterStart commands.
	BeforeStart, AfterStart func(ctx context.Context, c *Container) error
	// AfterReady runs every time the container is ready, before the spec's
	// AfterReady commands.
	AfterReady func(ctx context.Context, c *Container) error
	// BeforeStop and AfterStop run around Container.Stop (not around teardown, which
	// runs the terminate hooks).
	BeforeStop, AfterStop func(ctx context.Context, c *Container) error
	// BeforeTerminate and AfterTerminate run around the removal of the container, by
	// Terminate or at the end of the test: once, even if Terminate is called again.
	BeforeTerminate, AfterTerminate func(ctx context.Context, c *Container) error
}

// Hooks adds a set of hooks to the spec; see Hooks.
func (s Spec) Hooks(h Hooks) Spec {
	s.life.hooks = append(slices.Clip(s.life.hooks), h)
	return s
}

// hookPoint names a Hooks field that takes a container.
type hookPoint int

const (
	hookAfterCreate hookPoint = iota
	hookBeforeStart
	hookAfterStart
	hookAfterReady
	hookBeforeStop
	hookAfterStop
	hookBeforeTerminate
	hookAfterTerminate
)

var hookNames = [...]string{"after create", "before start", "after start", "after ready", "before stop", "after stop", "before terminate", "after terminate"}

func (h Hooks) at(p hookPoint) func(context.Context, *Container) error {
	switch p {
	case hookAfterCreate:
		return h.AfterCreate
	case hookBeforeStart:
		return h.BeforeStart
	case hookAfterStart:
		return h.AfterStart
	case hookAfterReady:
		return h.AfterReady
	case hookBeforeStop:
		return h.BeforeStop
	case hookAfterStop:
		return h.AfterStop
	case hookBeforeTerminate:
		return h.BeforeTerminate
	case hookAfterTerminate:
		return h.AfterTerminate
	}
	return nil
}

// ErrHook is wrapped by the error of a hook.
var ErrHook = errors.New("hook failed")

// runHooks runs the hooks of point p in order and stops at the first error.
func (c *Container) runHooks(ctx context.Context, p hookPoint) error {
	for _, h := range c.spec.life.hooks {
		if f := h.at(p); f != nil {
			if err := f(ctx, c); err != nil {
				return fmt.Errorf("%s hook of container %s: %w: %w", hookNames[p], c.name, ErrHook, err)
			}
		}
	}
	return nil
}

// runBeforeCreate runs the spec's BeforeCreate hooks.
func (s Spec) runBeforeCreate(ctx context.Context) error {
	for _, h := range s.life.hooks {
		if h.BeforeCreate != nil {
			if err := h.BeforeCreate(ctx, s); err != nil {
				return fmt.Errorf("before create hook: %w: %w", ErrHook, err)
			}
		}
	}
	return nil
}

// terminateHooks runs f between the BeforeTerminate and AfterTerminate hooks. f runs
// whatever the hooks return: a failing hook must not leave the container behind.
func (c *Container) terminateHooks(ctx context.Context, f func(context.Context) error) error {
	if len(c.spec.life.hooks) == 0 {
		return f(ctx)
	}
	c.mu.Lock()
	if c.gone || c.terminating {
		c.mu.Unlock()
		return f(ctx)
	}
	c.terminating = true
	c.mu.Unlock()
	before := c.runHooks(ctx, hookBeforeTerminate)
	err := f(ctx)
	if err != nil {
		return errors.Join(before, err)
	}
	return errors.Join(before, c.runHooks(ctx, hookAfterTerminate))
}
