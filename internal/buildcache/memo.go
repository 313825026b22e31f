package buildcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"
)

// memoMagic starts a memo file; the byte after it is the format version.
const (
	memoMagic   = "containertest-buildcache-memo\n"
	memoVersion = 5
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

// Memo remembers the content hashes of the files of one context directory
// by their stat data (path, size, mtime, ctime, inode, device, mode), so
// that Key re-reads only files that changed. Paths are kept relative to the
// context directory; used for another directory, a Memo starts afresh. A
// Memo is safe for concurrent use; Key uses it from several goroutines.
//
// A Memo is persisted in one file (see MemoPath). Save replaces the file
// atomically, so concurrent processes never see a partial file: the last
// writer wins, which costs at most some re-hashing. A file that is corrupt
// or from another version is ignored.
type Memo struct {
	path string

	mu   sync.Mutex
	root string // the context directory the paths are relative to
	// The loaded file, used where it lies: recs holds its fixed-size
	// records (see encodeMemo), strs its paths, both in tree order
	// (comparePaths). Loading allocates the file's bytes and a copy of
	// its paths, whatever the number of entries, and lookups merge with
	// the walk, which has the same order.
	recs []byte
	strs string
	n    int
	used []bool    // loaded entry i was looked up or stored this time
	file *memoFile // holds recs, when they were loaded from the file
	// added holds hashes stored since loading (new or changed files).
	added map[string]*memoEntry
	dirty bool // added is not empty
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
	m := &Memo{path: path, added: map[string]*memoEntry{}}
	f, err := readMemoFile(path)
	if err != nil {
		return m
	}
	if m.decode(f.data) != nil {
		f.release()
		return m
	}
	// The records stay in the file's memory until Save replaces them or
	// the Memo is garbage.
	m.file = f
	runtime.AddCleanup(m, (*memoFile).release, f)
	return m
}

// rec returns the record of loaded entry i.
func (m *Memo) rec(i int) []byte { return m.recs[i*memoRecSize : (i+1)*memoRecSize] }

// pathEnd returns the end of loaded entry i's path in m.strs.
func (m *Memo) pathEnd(i int) int { return int(binary.LittleEndian.Uint32(m.rec(i))) }

// pathAt returns the path of loaded entry i.
func (m *Memo) pathAt(i int) string {
	start := 0
	if i > 0 {
		start = m.pathEnd(i - 1)
	}
	return m.strs[start:m.pathEnd(i)]
}

// sumAt returns the hash of loaded entry i, in place.
func (m *Memo) sumAt(i int) []byte {
	return m.rec(i)[memoRecSize-sha256.Size:]
}

// loadedAt returns loaded entry i.
func (m *Memo) loadedAt(i int) memoEntry {
	f := m.rec(i)[4:]
	var e memoEntry
	e.st.size = int64(binary.LittleEndian.Uint64(f[0:]))
	e.st.mtime = int64(binary.LittleEndian.Uint64(f[8:]))
	e.st.ctime = int64(binary.LittleEndian.Uint64(f[16:]))
	e.st.ino = binary.LittleEndian.Uint64(f[24:])
	e.st.dev = binary.LittleEndian.Uint64(f[32:])
	e.st.mode = binary.LittleEndian.Uint32(f[40:])
	e.hashedAt = int64(binary.LittleEndian.Uint64(f[44:]))
	copy(e.sum[:], f[52:52+sha256.Size])
	return e
}

// search returns the index of the first loaded entry whose path is not
// before p in tree order.
func (m *Memo) search(p string) int {
	return sort.Search(m.n, func(i int) bool { return comparePaths(m.pathAt(i), p) >= 0 })
}

// find returns the entry for path p, the latest stored one if any, and
// the index of the loaded entry for p (-1 if none). The caller holds
// m.mu.
func (m *Memo) find(p string) (e memoEntry, i int, ok bool) {
	i = m.search(p)
	if i >= m.n || m.pathAt(i) != p {
		i = -1
	}
	if a, found := m.added[p]; found {
		return *a, i, true
	}
	if i >= 0 {
		return m.loadedAt(i), i, true
	}
	return memoEntry{}, -1, false
}

// lookupAll sets the hash of every regular file in entries (under root)
// whose memo entry is trusted, marks those entries used, and returns the
// files that must be read. Entries in tree order (as the walk returns
// them) are merged with the loaded entries in one pass.
func (m *Memo) lookupAll(root string, entries []*entry) []*entry {
	var todo []*entry
	m.mu.Lock()
	defer m.mu.Unlock()
	if root != m.root {
		// Another directory's memo (or a new one): start afresh.
		m.root, m.recs, m.strs, m.n, m.used = root, nil, "", 0, nil
		if m.file != nil {
			m.file.release()
			m.file = nil
		}
		m.added, m.dirty = map[string]*memoEntry{}, true
	}
	i, start, prev := 0, 0, ""
	for _, f := range entries {
		if !f.mode.IsRegular() {
			continue
		}
		if comparePaths(f.rel, prev) < 0 {
			// Not in order: start again.
			if i = m.search(f.rel); i > 0 {
				start = m.pathEnd(i - 1)
			} else {
				start = 0
			}
		}
		prev = f.rel
		for i < m.n {
			end := m.pathEnd(i) // decode checked it
			if comparePaths(m.strs[start:end], f.rel) >= 0 {
				break
			}
			i, start = i+1, end
		}
		var (
			e     memoEntry
			found bool
		)
		if a, ok := m.added[f.rel]; ok {
			e, found = *a, true
		} else if i < m.n && m.strs[start:m.pathEnd(i)] == f.rel {
			e, found = m.loadedAt(i), true
			m.used[i] = true
		}
		if found && e.trusted(f.st) {
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
	n := memoEntry{st: st, hashedAt: hashedAt.UnixNano(), sum: sum}
	e, i, ok := m.find(path)
	if i >= 0 {
		m.used[i] = true
	}
	if ok && e == n {
		return
	}
	m.added[path] = &n
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
	for _, u := range m.used {
		if u {
			nUsed++
		}
	}
	if !m.dirty && (nUsed == m.n || nUsed == 0) {
		m.mu.Unlock()
		return nil
	}
	type kv struct {
		path string
		e    memoEntry
	}
	all := make([]kv, 0, nUsed+len(m.added))
	for i := range m.n {
		p := m.pathAt(i)
		if _, ok := m.added[p]; !ok && m.used[i] {
			all = append(all, kv{p, m.loadedAt(i)})
		}
	}
	for p, e := range m.added {
		all = append(all, kv{p, *e})
	}
	slices.SortFunc(all, func(a, b kv) int { return comparePaths(a.path, b.path) })
	paths := make([]string, len(all))
	entries := make([]*memoEntry, len(all))
	for i := range all {
		paths[i], entries[i] = all[i].path, &all[i].e
	}
	data := encodeMemo(m.root, paths, entries)
	m.mu.Unlock()

	if err := writeFileAtomic(m.path, data); err != nil {
		return fmt.Errorf("save memo: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.decode(data); err != nil {
		return fmt.Errorf("save memo: %w", err)
	}
	if m.file != nil {
		m.file.release() // recs now lie in data
		m.file = nil
	}
	for i := range m.used {
		m.used[i] = true // all were used, or they would not be there
	}
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

// encodeMemo serialises the entries of the context directory root, in
// tree order: magic, version, root (length-prefixed), the number of
// entries, the length of all paths and the paths themselves, one after
// the other; then per entry a fixed-size record (the end of its path,
// then its stat data, time of hashing and hash); then a CRC-32C of all
// that. A torn or truncated file (say after a crash before the data
// reached the disk) fails the checksum and is ignored.
func encodeMemo(root string, paths []string, entries []*memoEntry) []byte {
	strs := 0
	for _, p := range paths {
		strs += len(p)
	}
	size := len(memoMagic) + 1 + 3*binary.MaxVarintLen64 + len(root) + strs + len(paths)*memoRecSize + crc32.Size
	b := make([]byte, 0, size)
	b = append(b, memoMagic...)
	b = append(b, memoVersion)
	b = binary.AppendUvarint(b, uint64(len(root)))
	b = append(b, root...)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	b = binary.AppendUvarint(b, uint64(strs))
	for _, p := range paths {
		b = append(b, p...)
	}
	end := 0
	for i, p := range paths {
		e := entries[i]
		end += len(p)
		b = binary.LittleEndian.AppendUint32(b, uint32(end))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.st.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.st.mtime))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.st.ctime))
		b = binary.LittleEndian.AppendUint64(b, e.st.ino)
		b = binary.LittleEndian.AppendUint64(b, e.st.dev)
		b = binary.LittleEndian.AppendUint32(b, e.st.mode)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.hashedAt))
		b = append(b, e.sum[:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// crcTable is the Castagnoli table, which has hardware support.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorruptMemo is returned by decode for anything but a well-formed
// memo of this version.
var errCorruptMemo = errors.New("corrupt memo file")

// memoRecSize is the size of an entry's record: the end of its path, then
// size, mtime, ctime, inode, device, mode, time of hashing, hash.
const memoRecSize = 4 + 8*5 + 4 + 8 + sha256.Size

// decode replaces the loaded entries of m with those encodeMemo wrote to
// data, which m keeps; on error m is unchanged. Records are not decoded
// here, only checked: paths within bounds and in strict tree order.
func (m *Memo) decode(data []byte) error {
	head := len(memoMagic) + 1
	if len(data) < head+crc32.Size || string(data[:len(memoMagic)]) != memoMagic || data[len(memoMagic)] != memoVersion {
		return errCorruptMemo
	}
	body, sum := data[:len(data)-crc32.Size], data[len(data)-crc32.Size:]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(sum) {
		return errCorruptMemo
	}
	if len(body) > math.MaxUint32 {
		return errCorruptMemo
	}
	off := head
	rl, k := binary.Uvarint(body[off:])
	if k <= 0 || rl > uint64(len(body)-off-k) {
		return errCorruptMemo
	}
	root := string(body[off+k : off+k+int(rl)])
	off += k + int(rl)
	n, k := binary.Uvarint(body[off:])
	if k <= 0 || n > uint64(len(body)/memoRecSize) {
		return errCorruptMemo
	}
	off += k
	sl, k := binary.Uvarint(body[off:])
	if k <= 0 || sl > uint64(len(body)-off-k) {
		return errCorruptMemo
	}
	off += k
	strs := string(body[off : off+int(sl)])
	off += int(sl)
	if uint64(len(body)-off) != n*memoRecSize {
		return errCorruptMemo
	}
	recs := body[off:]
	prev, start := "", 0
	for i := range int(n) {
		end := int(binary.LittleEndian.Uint32(recs[i*memoRecSize:]))
		if end < start || end > len(strs) {
			return errCorruptMemo
		}
		p := strs[start:end]
		if i > 0 && comparePaths(prev, p) >= 0 {
			return errCorruptMemo // not in order, or a duplicate
		}
		prev, start = p, end
	}
	if start != len(strs) {
		return errCorruptMemo
	}
	m.root, m.recs, m.strs, m.n = root, recs, strs, int(n)
	m.used = make([]bool, n)
	m.added, m.dirty = map[string]*memoEntry{}, false
	return nil
}
