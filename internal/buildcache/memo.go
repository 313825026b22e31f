package buildcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// memoMagic starts a memo file; the byte after it is the format version.
const (
	memoMagic   = "containertest-buildcache-memo\n"
	memoVersion = 2
)

// racyMargin is how recent a file's mtime or ctime may be, relative to the
// moment it was hashed, for the hash not to be trusted yet: a write right
// after the hash may not move the file's timestamps (coarse clocks, file
// systems with 1 or 2 s granularity), as in git's "racily clean" entries.
// Such a file is hashed again until it has been stable for the margin.
var racyMargin = 2 * time.Second

// fileStat is what the memo compares to decide a file is unchanged.
type fileStat struct {
	size  int64
	mtime int64 // ns
	ctime int64 // ns, 0 where unknown
	ino   uint64
	dev   uint64
	mode  uint32 // fs.FileMode
}

// statOf extracts the memo's view of fi, an os.Lstat result.
func statOf(fi fs.FileInfo) fileStat {
	dev, ino, ctime, _ := sysStat(fi)
	return fileStat{
		size:  fi.Size(),
		mtime: fi.ModTime().UnixNano(),
		ctime: ctime,
		ino:   ino,
		dev:   dev,
		mode:  uint32(fi.Mode()),
	}
}

// pathStat is the lstat data of a context path.
type pathStat struct {
	fileStat
	rdev uint64 // device number of a device file
}

// pathStatOf extracts a pathStat from fi, an os.Lstat result.
func pathStatOf(fi fs.FileInfo) pathStat {
	_, _, _, rdev := sysStat(fi)
	return pathStat{fileStat: statOf(fi), rdev: rdev}
}

// Mode returns the file mode.
func (s pathStat) Mode() fs.FileMode { return fs.FileMode(s.mode) }

// memoEntry is the remembered hash of one file.
type memoEntry struct {
	st       fileStat
	hashedAt int64 // ns, when reading the file started
	sum      [sha256.Size]byte
	used     bool
}

// trusted reports whether e may stand in for reading the file now stat'ed
// as st.
func (e *memoEntry) trusted(st fileStat) bool {
	if e.st != st {
		return false
	}
	newest := max(st.mtime, st.ctime)
	return newest < e.hashedAt-racyMargin.Nanoseconds()
}

// Memo remembers the content hashes of files by their stat data (path,
// size, mtime, ctime, inode, device, mode), so that Key re-reads only files
// that changed. A Memo is safe for concurrent use; Key uses it from several
// goroutines.
//
// A Memo is persisted in one file (see MemoPath). Save replaces the file
// atomically, so concurrent processes never see a partial file: the last
// writer wins, which costs at most some re-hashing. A file that is corrupt
// or from another version is ignored.
type Memo struct {
	path string

	mu      sync.Mutex
	entries map[string]*memoEntry
	dirty   bool // an entry was added or changed since loading
}

// MemoPath returns the memo file for the context directory dir:
// CacheDir()/memo/<hash of dir's absolute, symlink-free path>.
func MemoPath(dir string) (string, error) {
	real, err := resolveContextDir(dir)
	if err != nil {
		return "", err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(real))
	return filepath.Join(cache, "memo", hex.EncodeToString(sum[:16])+".memo"), nil
}

// LoadMemo reads the memo file at path. A missing, unreadable, corrupt or
// foreign file gives an empty memo: the memo is only an optimisation. Save
// writes back to path.
func LoadMemo(path string) *Memo {
	m := &Memo{path: path, entries: map[string]*memoEntry{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return m
	}
	if entries, err := decodeMemo(data); err == nil {
		m.entries = entries
	}
	return m
}

// lookupAll sets the hash of every regular file in entries whose memo
// entry is trusted, marks those entries used, and returns the files that
// must be read.
func (m *Memo) lookupAll(entries []*entry) []*entry {
	var todo []*entry
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range entries {
		if !f.mode.IsRegular() {
			continue
		}
		if e, ok := m.entries[f.path]; ok && e.trusted(f.st) {
			e.used = true
			f.sum = e.sum
			continue
		}
		todo = append(todo, f)
	}
	return todo
}

// store remembers that the file at path, with stat data st, hashed to sum
// when reading started at hashedAt.
func (m *Memo) store(path string, st fileStat, hashedAt time.Time, sum [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := &memoEntry{st: st, hashedAt: hashedAt.UnixNano(), sum: sum, used: true}
	if e, ok := m.entries[path]; ok && e.st == n.st && e.sum == n.sum && e.hashedAt == n.hashedAt {
		e.used = true
		return
	}
	m.entries[path] = n
	m.dirty = true
}

// Save writes the entries used since LoadMemo (by lookups or new hashes)
// back to the memo file, dropping the others (deleted or ignored files). It
// writes nothing if nothing changed. The file is replaced atomically: a
// temporary file in the same directory is renamed over it.
func (m *Memo) Save() error {
	if m.path == "" {
		return errors.New("save memo: no path")
	}
	m.mu.Lock()
	nUsed := 0
	for _, e := range m.entries {
		if e.used {
			nUsed++
		}
	}
	if !m.dirty && (nUsed == len(m.entries) || nUsed == 0) {
		m.mu.Unlock()
		return nil
	}
	used := make(map[string]*memoEntry, nUsed)
	for p, e := range m.entries {
		if e.used {
			used[p] = e
		}
	}
	data := encodeMemo(used)
	m.mu.Unlock()
	if err := writeFileAtomic(m.path, data); err != nil {
		return fmt.Errorf("save memo: %w", err)
	}
	m.mu.Lock()
	m.entries, m.dirty = used, false
	m.mu.Unlock()
	return nil
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so readers see the old or the new content, never a mix.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// encodeMemo serialises entries: magic, version, count, then per entry the
// path (length-prefixed) and fixed-size fields, then a CRC-32C of all
// that. A torn or truncated file (say after a crash before the data
// reached the disk) fails the checksum and is ignored.
func encodeMemo(entries map[string]*memoEntry) []byte {
	var b bytes.Buffer
	b.Grow(len(memoMagic) + 16 + len(entries)*(64+8*7+4+sha256.Size))
	b.WriteString(memoMagic)
	b.WriteByte(memoVersion)
	b.Write(binary.AppendUvarint(nil, uint64(len(entries))))
	var buf []byte
	for p, e := range entries {
		buf = binary.AppendUvarint(buf[:0], uint64(len(p)))
		buf = append(buf, p...)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.st.size))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.st.mtime))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.st.ctime))
		buf = binary.LittleEndian.AppendUint64(buf, e.st.ino)
		buf = binary.LittleEndian.AppendUint64(buf, e.st.dev)
		buf = binary.LittleEndian.AppendUint32(buf, e.st.mode)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.hashedAt))
		buf = append(buf, e.sum[:]...)
		b.Write(buf)
	}
	b.Write(binary.LittleEndian.AppendUint32(nil, crc32.Checksum(b.Bytes(), crcTable)))
	return b.Bytes()
}

// crcTable is the Castagnoli table, which has hardware support.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorruptMemo is returned by decodeMemo for anything but a well-formed
// memo of this version.
var errCorruptMemo = errors.New("corrupt memo file")

// memoFixedSize is the size of an entry's fields after the path.
const memoFixedSize = 8*5 + 4 + 8 + sha256.Size

// decodeMemo parses what encodeMemo wrote.
func decodeMemo(data []byte) (map[string]*memoEntry, error) {
	head := len(memoMagic) + 1
	if len(data) < head+crc32.Size || string(data[:len(memoMagic)]) != memoMagic || data[len(memoMagic)] != memoVersion {
		return nil, errCorruptMemo
	}
	body, sum := data[:len(data)-crc32.Size], data[len(data)-crc32.Size:]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(sum) {
		return nil, errCorruptMemo
	}
	rest := body[head:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)) {
		return nil, errCorruptMemo
	}
	rest = rest[k:]
	// One allocation for all paths and one for all entries.
	all := string(rest)
	off := 0
	entries := make(map[string]*memoEntry, n)
	slab := make([]memoEntry, n)
	for i := range slab {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) || uint64(len(rest)-k)-l < memoFixedSize {
			return nil, errCorruptMemo
		}
		p := all[off+k : off+k+int(l)]
		f := rest[k+int(l):]
		e := &slab[i]
		e.st.size = int64(binary.LittleEndian.Uint64(f[0:]))
		e.st.mtime = int64(binary.LittleEndian.Uint64(f[8:]))
		e.st.ctime = int64(binary.LittleEndian.Uint64(f[16:]))
		e.st.ino = binary.LittleEndian.Uint64(f[24:])
		e.st.dev = binary.LittleEndian.Uint64(f[32:])
		e.st.mode = binary.LittleEndian.Uint32(f[40:])
		e.hashedAt = int64(binary.LittleEndian.Uint64(f[44:]))
		copy(e.sum[:], f[52:52+sha256.Size])
		entries[p] = e
		adv := k + int(l) + memoFixedSize
		rest = rest[adv:]
		off += adv
	}
	if len(rest) != 0 {
		return nil, errCorruptMemo
	}
	return entries, nil
}
