package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/containertest/containertest/internal/dockercfg"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/image"
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
	auth, source, err := dockercfg.RegistryAuth(ctx, ref, dockercfg.DirFromOS())
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
