package docker_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sdkPrefixes are the import paths of the Docker SDK (and of its port types, which
// the moby/moby modules moved into their API).
var sdkPrefixes = []string{
	"github.com/docker/docker/",
	"github.com/docker/go-connections/nat",
	"github.com/moby/moby/",
}

// TestSDKImportedOnlyInEngine keeps the SDK behind internal/engine: outside it, only
// containers/modify.go (Spec.Modify, the public escape hatch) may import it, so that a
// move to another client module changes those two places alone (see CONTRIBUTING.md).
func TestSDKImportedOnlyInEngine(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from the test's directory: %v", err)
	}
	allowed := map[string]bool{"containers/modify.go": true}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "internal/engine" || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			// Another module (examples, the benchmarks) has its own rules.
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, prefix := range sdkPrefixes {
				if strings.HasPrefix(p, prefix) && !allowed[rel] {
					t.Errorf("%s imports %s: outside internal/engine, import its alias package under internal/engine/docker (or add the call to engine.API)", rel, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d files: the walk missed the module", checked)
	}
}
