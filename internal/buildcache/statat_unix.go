//go:build linux || darwin

package buildcache

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// dirStater returns a function that lstats names in the open directory d
// (at dirPath) with fstatat on d: one syscall without resolving the full
// path, and no allocation. The function must not be used after d is
// closed.
func dirStater(d *os.File, dirPath string) func(name string) (pathStat, error) {
	fd := int(d.Fd())
	return func(name string) (pathStat, error) {
		var st unix.Stat_t
		for {
			err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return pathStat{}, &fs.PathError{Op: "lstat", Path: dirPath + string(os.PathSeparator) + name, Err: err}
			}
			break
		}
		return pathStatOfUnix(&st), nil
	}
}

// pathStatOfUnix converts a stat result.
func pathStatOfUnix(st *unix.Stat_t) pathStat {
	return pathStat{
		fileStat: fileStat{
			size:  st.Size,
			mtime: st.Mtim.Nano(),
			ctime: st.Ctim.Nano(),
			ino:   uint64(st.Ino),
			dev:   uint64(st.Dev),
			mode:  uint32(unixMode(uint32(st.Mode))),
		},
		rdev: uint64(st.Rdev),
	}
}

// rawFile is a file read with plain syscalls: os.Open would also set the
// descriptor non-blocking and try to register it with the runtime poller,
// three syscalls per file that are useless for a regular file.
type rawFile struct {
	fd   int
	path string
}

// openHashSource opens path for reading.
func openHashSource(path string) (hashSource, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return &rawFile{fd: fd, path: path}, nil
	}
}

// Read implements io.Reader.
func (f *rawFile) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(f.fd, p)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// stat implements hashSource.
func (f *rawFile) stat() (fileStat, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstat(f.fd, &st)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fileStat{}, &fs.PathError{Op: "fstat", Path: f.path, Err: err}
		}
		return pathStatOfUnix(&st).fileStat, nil
	}
}

// Close implements io.Closer.
func (f *rawFile) Close() error {
	return unix.Close(f.fd)
}

// unixMode converts a st_mode to an fs.FileMode exactly as package os
// does, so that these stats compare equal to those of os.Lstat.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFREG:
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
