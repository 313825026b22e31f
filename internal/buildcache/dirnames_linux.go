package buildcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// dirScratch is a walk worker's reusable memory for listing directories.
type dirScratch struct {
	buf   []byte   // getdents64 records
	names []byte   // the names, one after the other
	ends  []int    // end of each name in names
	list  []string // the names returned by dirNames
}

// dirNames returns the names in the open directory f (without "." and
// ".."), as substrings of one string: one allocation per directory
// rather than one per name, which matters in a fresh process, where
// every new page of heap costs a page fault. The slice is s.list, valid
// until the next call.
func dirNames(f *os.File, s *dirScratch) ([]string, error) {
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}
	s.names, s.ends = s.names[:0], s.ends[:0]
	fd := int(f.Fd())
	for {
		n, err := unix.Getdents(fd, s.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		for b := s.buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino, off (8 bytes each), reclen
			// (2), type (1), name (NUL-terminated).
			if len(b) < 19 {
				return nil, errors.New("short getdents64 record")
			}
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return nil, errors.New("bad getdents64 record length")
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			s.names = append(s.names, name...)
			s.ends = append(s.ends, len(s.names))
		}
	}
	all := string(s.names)
	s.list = s.list[:0]
	start := 0
	for _, end := range s.ends {
		s.list = append(s.list, all[start:end])
		start = end
	}
	return s.list, nil
}
