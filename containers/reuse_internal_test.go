package containers

import (
	"os"
	"path/filepath"
	"testing"
)

func hashOf(t *testing.T, s Spec) string {
	t.Helper()
	cfg, hc, nc, err := s.engineConfig(local, "sha256:abc", s.labels)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.reuseHash(cfg, hc, nc)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Every part of the resolved configuration changes the hash; nothing else does.
func TestReuseHashCoversTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	base := Image("x").Cmd("sleep", "1").Expose("80").CopyDir(dir, "/d")
	h := hashOf(t, base)
	if hashOf(t, base) != h || hashOf(t, base.Reuse()) != h || hashOf(t, base.StartTimeout(5)) != h {
		t.Error("the hash changed without a configuration change")
	}
	for name, s := range map[string]Spec{
		"env":        base.Env("A", "1"),
		"cmd":        base.Cmd("sleep", "2"),
		"entrypoint": base.Entrypoint("sh"),
		"port":       base.Expose("81"),
		"bind":       base.Bind(dir, "/b"),
		"tmpfs":      base.Tmpfs("/t"),
		"memory":     base.Memory(64 << 20),
		"cpus":       base.CPUs(0.5),
		"label":      base.Label("a", "b"),
		"user":       base.User("nobody"),
		"file":       base.File("/f", []byte("x"), 0o644),
		"read-only":  base.ReadOnly(),
		"health":     base.HealthCheck(Health{Test: []string{"true"}}),
	} {
		if hashOf(t, s) == h {
			t.Errorf("%s: same hash as without it", name)
		}
	}
	write("two")
	if hashOf(t, base) == h {
		t.Error("a changed file in a copied directory kept the hash")
	}
}

func TestReuseRefusalNamesTheReason(t *testing.T) {
	if err := Image("x").Named("db").reuseRefusal(); err == nil {
		t.Error("Named spec accepted")
	}
	if err := Image("x").Tmpfs("/t").reuseRefusal(); err != nil {
		t.Errorf("tmpfs refused: %v", err)
	}
}
