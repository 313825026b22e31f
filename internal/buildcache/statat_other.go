//go:build !linux && !darwin

package buildcache

import (
	"os"
	"path/filepath"
)

// dirStater returns a function that lstats names in the directory dirPath.
func dirStater(_ *os.File, dirPath string) func(name string) (pathStat, error) {
	return func(name string) (pathStat, error) {
		fi, err := os.Lstat(filepath.Join(dirPath, name))
		if err != nil {
			return pathStat{}, err
		}
		return pathStatOf(fi), nil
	}
}

// osFile is a file read through package os.
type osFile struct{ *os.File }

// openHashSource opens path for reading.
func openHashSource(path string) (hashSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// stat implements hashSource.
func (f osFile) stat() (fileStat, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileStat{}, err
	}
	return statOf(fi), nil
}
