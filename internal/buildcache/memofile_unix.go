//go:build linux || darwin

package buildcache

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// memoFile is the content of a memo file, mapped into memory rather than
// read where possible: a fresh process pays a page fault per 4 KiB of new
// heap (about 3 ms per megabyte on a virtual machine here), while a
// private mapping of the page cache faults in many pages at once. Memo
// files are only ever replaced by rename, never truncated in place, so a
// mapping stays valid.
type memoFile struct {
	data   []byte
	mapped bool
	once   sync.Once
}

// readMemoFile maps or reads the file at path. The caller calls release
// once nothing uses data any more.
func readMemoFile(path string) (*memoFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if size := fi.Size(); size > 0 && size == int64(int(size)) {
		// Writable and private: writes (only tests make any) never reach
		// the file.
		data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
		if err == nil {
			return &memoFile{data: data, mapped: true}, nil
		}
		// Some file systems cannot map files: read it instead.
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &memoFile{data: data}, nil
}

// release unmaps the file; data must not be used afterwards. It may be
// called more than once.
func (f *memoFile) release() {
	f.once.Do(func() {
		if f.mapped {
			_ = unix.Munmap(f.data)
		}
		f.data = nil
	})
}
