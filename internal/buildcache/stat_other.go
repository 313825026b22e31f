//go:build !linux && !darwin

package buildcache

import "io/fs"

// sysStat returns zeros where the platform's stat is not known: the memo
// then relies on path, size, mode and mtime only.
func sysStat(fs.FileInfo) (dev, ino uint64, ctime int64, rdev uint64) {
	return 0, 0, 0, 0
}
