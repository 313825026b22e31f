package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"
)

// libpodVersion is the version prefix of podman's own API paths. Podman serves them
// beside its Docker-compatible API on the same socket, under a versioned path only.
const libpodVersion = "v4.0.0"

// IsPodman reports whether an engine's version answer is podman's (its Docker-compatible
// API names a "Podman Engine" component).
func IsPodman(v types.Version) bool {
	for _, c := range v.Components {
		if strings.Contains(strings.ToLower(c.Name), "podman") {
			return true
		}
	}
	return false
}

var podmanEngines sync.Map // *Engine -> func() (bool, error)

// Podman reports whether e is podman's Docker-compatible API, asking the engine's
// version once per engine.
func (e *Engine) Podman(ctx context.Context) (bool, error) {
	f, _ := podmanEngines.LoadOrStore(e, sync.OnceValues(func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		v, err := e.Client.ServerVersion(ctx)
		if err != nil {
			return false, fmt.Errorf("engine version: %w", err)
		}
		return IsPodman(v), nil
	}))
	return f.(func() (bool, error))()
}

// A LibpodError is an answer of podman's own API other than 200 OK.
type LibpodError struct {
	Status  int    // the HTTP status: 404 no such container, 409 not running, ...
	Message string // podman's message
}

func (e *LibpodError) Error() string {
	return fmt.Sprintf("podman answered %d: %s", e.Status, e.Message)
}

// Libpod sends GET /libpod/path (path starts with "/") to podman's own API through
// the engine's connection (socket, TLS or ssh, whichever answered) and decodes its
// JSON answer into v. Only a podman engine serves these paths; an answer other than
// 200 is a *LibpodError.
func (e *Engine) Libpod(ctx context.Context, path string, v any) error {
	hc := e.Client.HTTPClient()
	u, err := client.ParseHostURL(e.Client.DaemonHost())
	if err != nil {
		return fmt.Errorf("libpod %s: %w", path, err)
	}
	scheme, host := "http", "docker" // a socket's transport dials the socket, whatever the host
	switch u.Scheme {
	case "tcp", "http", "https":
		host = u.Host
	}
	if tr, ok := hc.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/"+libpodVersion+"/libpod"+path, nil)
	if err != nil {
		return fmt.Errorf("libpod %s: %w", path, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("libpod %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("libpod %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		le := &LibpodError{Status: resp.StatusCode, Message: strings.TrimSpace(string(body))}
		var m struct{ Message string }
		if json.Unmarshal(body, &m) == nil && m.Message != "" {
			le.Message = m.Message
		}
		return fmt.Errorf("libpod %s: %w", path, le)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("libpod %s: decode answer: %w", path, err)
	}
	return nil
}

// IsLibpodStatus reports whether err is a *LibpodError with the given status.
func IsLibpodStatus(err error, status int) bool {
	var le *LibpodError
	return errors.As(err, &le) && le.Status == status
}
