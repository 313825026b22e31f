package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds the loader arbitrary Compose files: it never panics, a file it refuses
// is refused with ErrInvalid or ErrUnsupported, and every service of a file it accepts
// maps onto a Spec or is refused the same way. Nothing here reaches the engine.
func FuzzLoad(f *testing.F) {
	f.Add("services:\n  web:\n    image: busybox:latest\n    ports: [\"8080\"]\n")
	f.Add("services:\n  a:\n    image: busybox:latest\n    depends_on: [b]\n  b:\n    image: busybox:latest\n")
	f.Add("services:\n  a:\n    build: .\n    environment:\n      A: ${X:-1}\n    volumes: [\"data:/d\"]\nvolumes:\n  data: {}\n")
	f.Add("services:\n  a:\n    image: busybox:latest\n    deploy:\n      replicas: 2\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\n")
	f.Add("services:\n  a:\n    image: busybox:latest\n    network_mode: host\n    privileged: true\n")
	f.Add("services: [\n")
	f.Fuzz(func(t *testing.T, yaml string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		refused := func(err error) {
			t.Helper()
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("refused with neither ErrInvalid nor ErrUnsupported: %v", err)
			}
		}
		proj, err := File(path).Name("fuzz").load(context.Background())
		if err != nil {
			refused(err)
			return
		}
		for name, s := range proj.Services {
			if _, err := serviceSpec(proj, name, s, 1, resources{}); err != nil {
				refused(err)
			}
		}
	})
}
