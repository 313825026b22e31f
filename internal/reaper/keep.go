package reaper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containertest/containertest/internal/cachedir"
	"github.com/containertest/containertest/internal/engine"
)

// A Mode says which resources are kept for debugging instead of removed.
type Mode int

// Keep modes, from CONTAINERTEST_KEEP.
const (
	Never  Mode = iota // "" (default): remove everything
	Failed             // "failed": keep the resources of failed tests
	Always             // "always": keep every resource
)

// String returns the CONTAINERTEST_KEEP value of m.
func (m Mode) String() string {
	switch m {
	case Failed:
		return "failed"
	case Always:
		return "always"
	}
	return "never"
}

// Keeps reports whether a test's resources are kept when the test failed or not.
func (m Mode) Keeps(failed bool) bool {
	return m == Always || (m == Failed && failed)
}

// ParseKeepMode parses a CONTAINERTEST_KEEP value.
func ParseKeepMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "never", "0", "false", "no":
		return Never, nil
	case "failed", "fail", "failure":
		return Failed, nil
	case "always", "all", "1", "true", "yes":
		return Always, nil
	}
	return Never, fmt.Errorf("parse %s=%q: want \"failed\" or \"always\"", EnvKeep, s)
}

// KeepMode returns the keep mode from CONTAINERTEST_KEEP. An invalid value counts as
// Never here; Ensure reports it as an error before any resource is created.
func KeepMode() Mode {
	m, _ := ParseKeepMode(os.Getenv(EnvKeep))
	return m
}

// A Kind is the kind of an engine resource.
type Kind int

// Resource kinds, in removal order.
const (
	Container Kind = iota
	Network
	Volume
)

// String returns "container", "network" or "volume".
func (k Kind) String() string {
	switch k {
	case Container:
		return "container"
	case Network:
		return "network"
	case Volume:
		return "volume"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// A Ref names one engine resource: a container or network by id, a volume by name.
type Ref struct {
	Kind Kind
	ID   string
}

// String returns "kind id".
func (r Ref) String() string { return r.Kind.String() + " " + r.ID }

func (r Ref) marker() (string, error) {
	if r.ID == "" || strings.ContainsAny(r.ID, `/\`) || r.ID == "." || r.ID == ".." {
		return "", fmt.Errorf("mark %v kept: invalid id", r)
	}
	switch r.Kind {
	case Container, Network, Volume:
	default:
		return "", fmt.Errorf("mark %v kept: unknown kind", r)
	}
	return r.Kind.String() + "-" + r.ID, nil
}

// LabelMarkerDir names the directory where the marker of a resource kept by MarkKept
// is written: CacheDir()/reaper/kept of the creating process. Labels puts it on every
// resource created with CONTAINERTEST_KEEP=failed, so that the watchdog and the sweep
// of every process find the marker whatever cache directory they use themselves (a
// test that sets CONTAINERTEST_CACHE_DIR, a process with HOME unset).
const LabelMarkerDir = engine.LabelPrefix + "marker-dir"

// markerDir returns the directory of this process's kept markers, "" if there is none.
func markerDir() string {
	d, err := CacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "reaper", "kept")
}

// MarkKept records refs as kept: the watchdog and the sweep of every process leave
// them alone from now on. Call it before the process ends, for resources that were
// created without LabelKeep and are to stay. Processes that use the same cache
// directory, or (for markers in the default directory) any cache directory, honour the
// marker of any resource; every process honours it on a resource that carries
// LabelMarkerDir (those created under CONTAINERTEST_KEEP=failed), which names where
// to look. A marker whose resource no longer exists is deleted by a later sweep
// against the same engine that uses the same cache directory.
func MarkKept(ctx context.Context, refs ...Ref) error {
	if len(refs) == 0 {
		return nil
	}
	e, err := engine.Get(ctx)
	if err != nil {
		return fmt.Errorf("mark kept: %w", err)
	}
	dir, err := reaperDir("kept")
	if err != nil {
		return fmt.Errorf("mark kept: %w", err)
	}
	content := []byte(engine.SessionID() + "\n" + engine.HostName() + "\n" + e.Addr + "\n")
	var errs []error
	for _, r := range refs {
		name, err := r.marker()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("mark %v kept: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// A marker is one resource recorded by MarkKept.
type marker struct {
	Ref
	Session, Host, Engine string
}

type markers []marker

func (ms markers) set() map[Ref]bool {
	out := make(map[Ref]bool, len(ms))
	for _, m := range ms {
		out[m.Ref] = true
	}
	return out
}

// readMarkers returns the resources recorded by MarkKept in this process's cache
// directory and, when CONTAINERTEST_CACHE_DIR points elsewhere, in the default one too:
// a process with a cache directory of its own (a test of the build cache, say) must not
// sweep what a process using the default directory keeps.
func readMarkers() (markers, error) {
	d, err := CacheDir()
	if err != nil {
		return nil, err
	}
	out, err := readMarkersIn(filepath.Join(d, "reaper", "kept"))
	if err != nil {
		return nil, err
	}
	if os.Getenv(EnvCacheDir) != "" {
		if def, uerr := cachedir.Default(); uerr == nil {
			if def != d {
				more, err := readMarkersIn(filepath.Join(def, "reaper", "kept"))
				if err != nil {
					return nil, err
				}
				out = append(out, more...)
			}
		}
	}
	return out, nil
}

// readMarkersIn reads the markers in one directory.
func readMarkersIn(dir string) (markers, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read kept markers: %w", err)
	}
	out := make(markers, 0, len(ents))
	for _, e := range ents {
		kind, id, ok := strings.Cut(e.Name(), "-")
		if !ok {
			continue
		}
		m := marker{Ref: Ref{ID: id}}
		switch kind {
		case "container":
			m.Kind = Container
		case "network":
			m.Kind = Network
		case "volume":
			m.Kind = Volume
		default:
			continue
		}
		// An unreadable marker still protects its resource; it is just never collected.
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			f := strings.Split(string(b), "\n")
			if len(f) >= 3 {
				m.Session, m.Host, m.Engine = f[0], f[1], f[2]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// markedIn reports whether the resource r has a marker in dir, the value of its
// LabelMarkerDir: a marker there keeps it, and so does a directory that cannot be
// looked into (a resource is never removed on a guess). A dir that is not an absolute
// path names nothing.
func markedIn(dir string, r Ref) bool {
	if !filepath.IsAbs(dir) {
		return false
	}
	name, err := r.marker()
	if err != nil {
		return false
	}
	_, err = os.Lstat(filepath.Join(dir, name))
	return !errors.Is(err, fs.ErrNotExist)
}

// unmark deletes the markers of refs (resources that are gone).
func unmark(refs []Ref) {
	d, err := CacheDir()
	if err != nil {
		return
	}
	for _, r := range refs {
		if name, err := r.marker(); err == nil {
			os.Remove(filepath.Join(d, "reaper", "kept", name))
		}
	}
}
