// Package dockercfg reads the Docker CLI's configuration directory (DOCKER_CONFIG, or
// .docker in the home directory): its config.json, for the current context and for
// registry credentials (inline auths, credential helpers, the credential store). It is
// the one reader of that file; internal/engine uses it for contexts, containers for
// pulls.
package dockercfg

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/containertest/containertest/internal/engine/docker/registry"
)

// Dir is the Docker CLI's configuration directory: dockerConfig (the value of
// DOCKER_CONFIG) when set, otherwise .docker in home; "" when both are empty, so that
// no config is read rather than one relative to the working directory.
func Dir(dockerConfig, home string) string {
	if dockerConfig != "" {
		return dockerConfig
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".docker")
}

// DirFromOS is Dir of this process's DOCKER_CONFIG and home directory.
func DirFromOS() string {
	home, _ := os.UserHomeDir()
	return Dir(os.Getenv("DOCKER_CONFIG"), home)
}

// File is what the framework reads of config.json.
type File struct {
	CurrentContext string `json:"currentContext"`
	Auths          map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// Read reads dir's config.json and returns it with its path. A missing file is an
// error wrapping fs.ErrNotExist; a file that is not JSON one that names the path.
func Read(dir string) (File, string, error) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return File{}, path, err
		}
		return File{}, path, fmt.Errorf("read docker config: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, path, fmt.Errorf("parse docker config %s: %w", path, err)
	}
	return f, path, nil
}

// HelperTimeout bounds one run of a credential helper: a helper that waits
// for a keychain prompt nobody answers must not hang the test.
var HelperTimeout = 15 * time.Second

// RegistryAuth returns the encoded credentials for the registry of ref from the Docker
// CLI's config (inline auths, credential helpers, or the credential store), or "" when
// there are none, and says where they came from (for error messages).
func RegistryAuth(ctx context.Context, ref, configDir string) (auth, source string, err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	host := reference.Domain(named)
	if configDir == "" {
		return "", "none sent: no Docker config directory (neither DOCKER_CONFIG nor HOME is set)", nil
	}
	cfg, cfgPath, err := Read(configDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Sprintf("none sent: %s does not exist", cfgPath), nil
	}
	if err != nil {
		return "", "", err
	}
	keys := []string{host, "https://" + host, "http://" + host}
	if host == "docker.io" {
		keys = append([]string{"https://index.docker.io/v1/", "index.docker.io"}, keys...)
	}
	var ac registry.AuthConfig
	found := false
	helper, helperFrom := cfg.CredHelpers[host], "credHelpers"
	if helper == "" {
		helper, helperFrom = cfg.CredsStore, "credsStore"
	}
	var helperNote string
	if helper != "" {
		helperNote = fmt.Sprintf("credential helper docker-credential-%s (%s in %s) has none for %s", helper, helperFrom, cfgPath, host)
		for _, k := range keys {
			u, secret, ok, err := credentialHelper(ctx, helper, k)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
					return "", "", fmt.Errorf("get credentials for %s: %w", host, err)
				}
				// As without credentials; the note says why, should the registry refuse.
				helperNote = fmt.Sprintf("credential helper docker-credential-%s (%s in %s) failed: %v", helper, helperFrom, cfgPath, err)
				continue
			}
			if ok {
				ac, found = registry.AuthConfig{Username: u, Password: secret, ServerAddress: k}, true
				if u == "<token>" {
					ac = registry.AuthConfig{IdentityToken: secret, ServerAddress: k}
				}
				source = fmt.Sprintf("from credential helper docker-credential-%s (%s in %s) for %s", helper, helperFrom, cfgPath, k)
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
					return "", "", fmt.Errorf("docker config %s: auth for %s is not base64: %w", cfgPath, k, err)
				}
				u, p, ok := strings.Cut(string(dec), ":")
				if !ok {
					return "", "", fmt.Errorf("docker config %s: auth for %s is not user:password", cfgPath, k)
				}
				ac.Username, ac.Password = u, p
			}
			found = true
			source = fmt.Sprintf("from auths[%q] in %s", k, cfgPath)
			break
		}
	}
	if !found {
		if helperNote != "" {
			return "", "none sent: " + helperNote, nil
		}
		return "", fmt.Sprintf("none sent: %s has none for %s", cfgPath, host), nil
	}
	if ac.Username != "" {
		source = "user " + strconv.Quote(ac.Username) + " " + source
	}
	auth, err = registry.EncodeAuthConfig(ac)
	if err != nil {
		return "", "", fmt.Errorf("encode credentials for %s: %w", host, err)
	}
	return auth, source, nil
}

// credentialHelper runs docker-credential-<name> get for server, bounded by ctx and
// HelperTimeout. ok is false, with a nil error, when the helper has no
// credentials for server.
func credentialHelper(ctx context.Context, name, server string) (user, secret string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, HelperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-credential-"+name, "get")
	cmd.Stdin = strings.NewReader(server)
	// A helper's children (a shell script's, say) must not keep the pipes open after
	// the helper was killed.
	cmd.WaitDelay = time.Second
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return "", "", false, fmt.Errorf("credential helper docker-credential-%s: no answer within %v: %w", name, HelperTimeout, cerr)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			// The protocol's answer for "nothing stored for this server".
			if strings.Contains(strings.ToLower(out.String()+stderr.String()), "credentials not found") {
				return "", "", false, nil
			}
			return "", "", false, fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()+" "+stderr.String()))
		}
		return "", "", false, err
	}
	var r struct{ Username, Secret string }
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return "", "", false, fmt.Errorf("credential helper docker-credential-%s: bad answer: %w", name, err)
	}
	if r.Secret == "" {
		return "", "", false, nil
	}
	return r.Username, r.Secret, true, nil
}
