//go:build !linux && !darwin

package buildcache

import "os"

// memoFile is the content of a memo file.
type memoFile struct{ data []byte }

// readMemoFile reads the file at path.
func readMemoFile(path string) (*memoFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &memoFile{data: data}, nil
}

// release lets go of the file's content.
func (f *memoFile) release() { f.data = nil }
