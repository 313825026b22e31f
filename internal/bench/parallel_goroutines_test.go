//go:build !benchstartall

package bench

// Until containers.StartAll exists, ours starts the group from goroutines calling Run.
var oursParallel = oursParallelGoroutines
