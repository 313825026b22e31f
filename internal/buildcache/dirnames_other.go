//go:build !linux

package buildcache

import "os"

// dirScratch is a walk worker's reusable memory for listing directories.
type dirScratch struct{}

// dirNames returns the names in the open directory f.
func dirNames(f *os.File, _ *dirScratch) ([]string, error) {
	return f.Readdirnames(-1)
}
