package buildcache

import (
	"io/fs"
	"syscall"
)

// sysStat returns the device, inode, change time (ns) and device number
// (for device files) of fi, an os.Lstat result.
func sysStat(fi fs.FileInfo) (dev, ino uint64, ctime int64, rdev uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, 0
	}
	return st.Dev, st.Ino, st.Ctim.Nano(), st.Rdev
}
