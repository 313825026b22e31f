package reliability

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/wait"
)

// checkDefaults fails unless the container publishes only on 127.0.0.1 and runs with
// nothing privileged: no privileged mode, no added capability, neither the host's
// network nor its pid namespace.
func checkDefaults(t *testing.T, c *containers.Container) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := testimages.Engine(t).Client.ContainerInspect(ctx, c.ID())
	if err != nil {
		t.Fatalf("inspect %s: %v", c.Name(), err)
	}
	hc := r.HostConfig
	if len(hc.PortBindings) == 0 {
		t.Errorf("%s: no published port to check", c.Name())
	}
	for port, bs := range hc.PortBindings {
		for _, b := range bs {
			if b.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s bound to %q, want 127.0.0.1", c.Name(), port, b.HostIP)
			}
		}
	}
	for port, bs := range r.NetworkSettings.Ports {
		for _, b := range bs {
			if b.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q, want 127.0.0.1", c.Name(), port, b.HostIP)
			}
		}
	}
	if hc.Privileged {
		t.Errorf("%s: privileged", c.Name())
	}
	if len(hc.CapAdd) > 0 {
		t.Errorf("%s: added capabilities %v", c.Name(), hc.CapAdd)
	}
	if hc.NetworkMode.IsHost() {
		t.Errorf("%s: host network", c.Name())
	}
	if hc.PidMode.IsHost() {
		t.Errorf("%s: host pid namespace", c.Name())
	}
	if hc.IpcMode.IsHost() {
		t.Errorf("%s: host ipc namespace", c.Name())
	}
	if len(hc.Devices) > 0 {
		t.Errorf("%s: host devices %v", c.Name(), hc.Devices)
	}
}

var httpd = containers.Image(busybox).Cmd("httpd", "-f", "-p", "8080").Expose("8080/tcp", "9090/udp")

func TestSecurityDefaultsSpec(t *testing.T) {
	testimages.Busybox(t)
	checkDefaults(t, httpd.Start(t))
}

func TestSecurityDefaultsStartAll(t *testing.T) {
	testimages.Busybox(t)
	for _, c := range containers.StartAll(t, httpd, httpd.Cmd("httpd", "-f", "-p", "8080", "-v")) {
		checkDefaults(t, c)
	}
}

func TestSecurityDefaultsCompose(t *testing.T) {
	testimages.Busybox(t)
	dir := writeFiles(t, map[string]string{"compose.yaml": `services:
  web:
    image: ` + busybox + `
    command: ["httpd", "-f", "-p", "8080"]
    ports: ["8080", "0:8080/udp"]
  pinned:
    image: ` + busybox + `
    command: ["httpd", "-f", "-p", "8080"]
    ports: ["0.0.0.0::8080"]
`})
	st := compose.File(filepath.Join(dir, "compose.yaml")).Up(t)
	checkDefaults(t, st.Service("web"))
	// A host IP written in the file is the user asking; it is the one exception.
	r, err := testimages.Engine(t).Client.ContainerInspect(context.Background(), st.Service("pinned").ID())
	if err != nil {
		t.Fatal(err)
	}
	for port, bs := range r.HostConfig.PortBindings {
		for _, b := range bs {
			t.Logf("pinned: %s bound to %q, as the file asks", port, b.HostIP)
		}
	}
}

// TestSecurityIgnoredSecretNotInImage builds a context whose secret .dockerignore
// excludes, with a Dockerfile that copies everything: the secret is not in the image.
// (The framework has one builder, the engine's classic one, fed by the context tar;
// FuzzBuildContext checks the tar for any ignore file.)
func TestSecurityIgnoredSecretNotInImage(t *testing.T) {
	testimages.Busybox(t)
	secret := "ct-secret-" + engineStamp()
	dir := writeFiles(t, map[string]string{
		"Dockerfile":          "FROM " + busybox + "\nCOPY . /ctx/\nCMD [\"sleep\", \"300\"]\n",
		".dockerignore":       "secret.txt\n**/*.pem\n",
		"secret.txt":          secret,
		"conf/tls/server.pem": secret,
		"app.txt":             "app " + secret[:8],
	})
	c := containers.Build(dir).KillOnTeardown().Start(t)
	res, err := c.Exec(context.Background(), "sh", "-c", "find /ctx -type f | sort; grep -rl "+secret+" /ctx /etc /root /tmp /home 2>/dev/null || true")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image files and hits:\n%s", res.Stdout)
	if strings.Contains(res.Stdout, "secret.txt") || strings.Contains(res.Stdout, "server.pem") {
		t.Errorf("an ignored file is in the image:\n%s", res.Stdout)
	}
	if !strings.Contains(res.Stdout, "/ctx/app.txt") {
		t.Errorf("the context's other file is missing from the image:\n%s", res.Stdout)
	}
}

func engineStamp() string { return strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "") }

// secretValue and registryPassword must never appear in any output of the child below.
const (
	secretValue      = "ct-env-secret-7f3a9c"
	registryPassword = "ct-registry-pass-51b2e8"
)

// TestSecurityNoSecretsInOutput runs a child test that pulls with registry credentials
// and fails with a secret in a container's environment, so that the diagnosis and the
// keep report are printed: neither the password nor the secret value may appear in
// anything it prints.
func TestSecurityNoSecretsInOutput(t *testing.T) {
	testimages.Busybox(t)
	cfg := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ct-user:" + registryPassword))
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"registry.containertest.invalid":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("CONTAINERTEST_KEEP", "failed")
	out := asParentExpectingFailure(t, "TestChildSecrets")
	for _, s := range []string{secretValue, registryPassword, auth} {
		if strings.Contains(out, s) {
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, s) {
					t.Errorf("the output shows a secret: %q", l)
				}
			}
		}
	}
	if !strings.Contains(out, "registry.containertest.invalid") {
		t.Errorf("the child's output lacks the pull error; did the pull run?")
	}
	if !strings.Contains(out, "kept") {
		t.Errorf("the child's output lacks the keep report")
	}
}

func TestChildSecrets(t *testing.T) {
	asChild(t)
	ctx := context.Background()
	_, err := containers.Image("registry.containertest.invalid/app:1").Run(ctx)
	t.Logf("child: pull error: %v", err)
	// This fails the test: the diagnosis (and, with KEEP=failed, the keep report) is
	// printed for this container, whose environment holds the secret.
	containers.Image(busybox).Cmd("sh", "-c", "echo starting; exit 3").
		Env("DB_PASSWORD", secretValue).
		Modify(func(cfg *container.Config, _ *container.HostConfig) {
			cfg.Env = append(cfg.Env, "API_TOKEN="+secretValue)
		}).
		WaitFor(wait.ForLog("never printed")).Start(t)
}
