//go:build !unix

package buildcache

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
