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
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/containertest/containertest/internal/engine"
)

// Errors that a failed pull wraps, besides the engine's own error, so that callers can
// tell the causes apart with errors.Is.
var (
	// ErrPullUnauthorized is wrapped when the registry refused the pull for lack of
	// valid credentials. The error names where the credentials came from.
	ErrPullUnauthorized = errors.New("registry refused the credentials")
	// ErrRegistryUnreachable is wrapped when the engine could not reach the registry.
	ErrRegistryUnreachable = errors.New("registry unreachable")
	// ErrPullRateLimited is wrapped when the registry refused the pull because of its
	// rate limit.
	ErrPullRateLimited = errors.New("registry rate limit reached")
)

// pullImage pulls ref with credentials from the Docker config, reading the progress
// stream to the end (the pull is done only then) and reporting its error, classified
// (see pullError).
func pullImage(ctx context.Context, eng *engine.Engine, ref string) error {
	return pullImagePlatform(ctx, eng, ref, "")
}

// pullImagePlatform is pullImage for a platform ("" for the engine's).
func pullImagePlatform(ctx context.Context, eng *engine.Engine, ref, platform string) error {
	auth, source, err := registryAuth(ctx, ref, dockerConfigDir())
	if err != nil {
		return err
	}
	rc, err := eng.Client.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth, Platform: platform})
	if err != nil {
		return newPullError(ctx, source, err)
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
			return newPullError(ctx, source, errors.New(msg.Error))
		}
	}
}

// A pullError is a failed pull: the engine's error, the kind of failure (one of the
// exported sentinels, or nil when it is none of them) and where the credentials sent
// came from.
type pullError struct {
	kind   error
	source string
	err    error
}

func (e *pullError) Error() string {
	switch e.kind {
	case ErrImageNotFound:
		return fmt.Sprintf("the registry has no such repository or tag: %v", e.err)
	case ErrPullUnauthorized:
		return fmt.Sprintf("the registry refused the credentials (%s): %v", e.source, e.err)
	case ErrRegistryUnreachable:
		return fmt.Sprintf("the engine cannot reach the registry: %v", e.err)
	case ErrPullRateLimited:
		advice := "wait, or build or load the image locally"
		if strings.HasPrefix(e.source, "none sent") {
			advice = "log in for a higher limit, or build or load the image locally"
		}
		return fmt.Sprintf("the registry's rate limit is reached (credentials: %s); %s: %v", e.source, advice, e.err)
	}
	return e.err.Error()
}

func (e *pullError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

func newPullError(ctx context.Context, source string, err error) error {
	if ctx.Err() != nil {
		// Our own deadline or cancellation, not the registry's doing.
		return err
	}
	return &pullError{kind: pullErrorKind(err), source: source, err: err}
}

// pullErrorKind classifies an error of a pull: by its errdefs kind where the engine set
// one, else by the registry's words, which the engine passes on as text (Docker 20.10
// reports "manifest unknown", "unauthorized" and "toomanyrequests" alike with status 500).
func pullErrorKind(err error) error {
	msg := strings.ToLower(err.Error())
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	switch {
	case cerrdefs.IsResourceExhausted(err) || has("toomanyrequests", "too many requests", "rate limit"):
		return ErrPullRateLimited
	case cerrdefs.IsUnauthorized(err) || cerrdefs.IsPermissionDenied(err) ||
		has("unauthorized", "authentication required", "access denied", "access to the resource is denied",
			"incorrect username or password", "no basic auth credentials"):
		return ErrPullUnauthorized
	case cerrdefs.IsNotFound(err) || has("manifest unknown", "name unknown", "not found", "does not exist"):
		return ErrImageNotFound
	case cerrdefs.IsUnavailable(err) || has("dial tcp", "connection refused", "no such host", "network is unreachable",
		"no route to host", "i/o timeout", "tls handshake timeout", "server misbehaving",
		"client.timeout exceeded", "connection reset"):
		return ErrRegistryUnreachable
	}
	return nil
}

// missingImageError is the error for an image that is not present locally and could
// not be pulled either: it wraps ErrImageNotFound and the pull's error.
func missingImageError(ref string, pullErr error) error {
	return fmt.Errorf("image %s not found locally; pull failed: %w; build or load it first: %w", ref, pullErr, ErrImageNotFound)
}

func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "" // no config to read, rather than a .docker in the working directory
	}
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

// credentialHelperTimeout bounds one run of a credential helper: a helper that waits
// for a keychain prompt nobody answers must not hang the test.
var credentialHelperTimeout = 15 * time.Second

// registryAuth returns the encoded credentials for the registry of ref from the Docker
// CLI's config (inline auths, credential helpers, or the credential store), or "" when
// there are none, and says where they came from (for error messages).
func registryAuth(ctx context.Context, ref, configDir string) (auth, source string, err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	host := reference.Domain(named)
	if configDir == "" {
		return "", "none sent: no Docker config directory (neither DOCKER_CONFIG nor HOME is set)", nil
	}
	cfgPath := filepath.Join(configDir, "config.json")
	b, err := os.ReadFile(cfgPath)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Sprintf("none sent: %s does not exist", cfgPath), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read docker config: %w", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", "", fmt.Errorf("parse docker config %s: %w", cfgPath, err)
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
// credentialHelperTimeout. ok is false, with a nil error, when the helper has no
// credentials for server.
func credentialHelper(ctx context.Context, name, server string) (user, secret string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, credentialHelperTimeout)
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
			return "", "", false, fmt.Errorf("credential helper docker-credential-%s: no answer within %v: %w", name, credentialHelperTimeout, cerr)
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
