package containers

import (
	"context"
)

// ensureReaper starts the crash-safe watchdog before the first resource is created.
func ensureReaper(ctx context.Context) error { return nil }

// reaperLabels are extra labels the keep mode needs at creation.
func reaperLabels() map[string]string { return nil }

// keepContainer says whether a container stays after its test for debugging.
func keepContainer(ctx context.Context, c *Container, failed bool) bool { return false }
