package containers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/containertest/containertest/internal/engine"
)

// pullImage pulls ref with credentials from the Docker config, reading the progress
// stream to the end (the pull is done only then) and reporting its error.
func pullImage(ctx context.Context, eng *engine.Engine, ref string) error {
	auth, err := registryAuth(ref, dockerConfigDir())
	if err != nil {
		return err
	}
	rc, err := eng.Client.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read pull progress: %w", err)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// registryAuth returns the encoded credentials for the registry of ref from the Docker
// CLI's config (inline auths, credential helpers, or the credential store), or "" when
// there are none.
func registryAuth(ref, configDir string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	host := reference.Domain(named)
	b, err := os.ReadFile(filepath.Join(configDir, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read docker config: %w", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("parse docker config: %w", err)
	}
	keys := []string{host, "https://" + host, "http://" + host}
	if host == "docker.io" {
		keys = append([]string{"https://index.docker.io/v1/", "index.docker.io"}, keys...)
	}
	var ac registry.AuthConfig
	found := false
	helper := cfg.CredHelpers[host]
	if helper == "" {
		helper = cfg.CredsStore
	}
	if helper != "" {
		for _, k := range keys {
			if u, secret, ok := credentialHelper(helper, k); ok {
				ac, found = registry.AuthConfig{Username: u, Password: secret, ServerAddress: k}, true
				if u == "<token>" {
					ac = registry.AuthConfig{IdentityToken: secret, ServerAddress: k}
				}
				break
			}
		}
	}
	if !found {
		for _, k := range keys {
			a, ok := cfg.Auths[k]
			if !ok {
				continue
			}
			ac = registry.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, ServerAddress: k}
			if a.Auth != "" {
				dec, err := base64.StdEncoding.DecodeString(a.Auth)
				if err != nil {
					return "", fmt.Errorf("docker config: auth for %s is not base64: %w", k, err)
				}
				u, p, ok := strings.Cut(string(dec), ":")
				if !ok {
					return "", fmt.Errorf("docker config: auth for %s is not user:password", k)
				}
				ac.Username, ac.Password = u, p
			}
			found = true
			break
		}
	}
	if !found {
		return "", nil
	}
	return registry.EncodeAuthConfig(ac)
}

// credentialHelper runs docker-credential-<name> get for server.
func credentialHelper(name, server string) (user, secret string, ok bool) {
	cmd := exec.Command("docker-credential-"+name, "get")
	cmd.Stdin = strings.NewReader(server)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", "", false
	}
	var r struct{ Username, Secret string }
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Secret == "" {
		return "", "", false
	}
	return r.Username, r.Secret, true
}
