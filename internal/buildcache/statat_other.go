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
