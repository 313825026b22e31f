package buildcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// readIgnoreFile returns the patterns of the ignore file p, and whether
// there is such a file.
func readIgnoreFile(p string) ([]string, bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", p, err)
	}
	return patterns, true, nil
}

// trimBuildFilesFromExcludes makes sure .dockerignore and the Dockerfile
// (relDockerfile, slash-separated, "" when outside the context) are sent
// even if a pattern excludes them, as the docker CLI does: the engine needs
// them, and removes them from the context itself when they are excluded.
func trimBuildFilesFromExcludes(excludes []string, relDockerfile string) []string {
	if keep, _ := patternmatcher.MatchesOrParentMatches(ignoreFileName, excludes); keep {
		excludes = append(excludes, "!"+ignoreFileName)
	}
	if relDockerfile != "" {
		if keep, _ := patternmatcher.MatchesOrParentMatches(relDockerfile, excludes); keep {
			excludes = append(excludes, "!"+relDockerfile)
		}
	}
	return excludes
}
