package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"

	"github.com/containertest/containertest/internal/buildcache"
	"github.com/containertest/containertest/internal/engine"
	"github.com/containertest/containertest/internal/engine/docker/build"
	"github.com/containertest/containertest/internal/engine/docker/versions"
)

// Builders of the engine.
const (
	builderBuildKit = "buildkit"
	builderClassic  = "classic"
)

// builderEnv chooses the builder: "classic" forces the classic builder, "buildkit"
// requires BuildKit; unset (or "auto") uses BuildKit where the engine has it.
const builderEnv = "CONTAINERTEST_BUILDER"

// minBuildKitAPI is the first engine API version whose builds run through BuildKit
// without the engine's experimental mode (Docker 18.09).
const minBuildKitAPI = "1.39"

var (
	// ErrUnsupportedSyntax is wrapped when the Dockerfile uses syntax that the
	// builder of the engine lacks; the error names the feature, the line, the engine
	// version and what would make it work. Nothing was sent to the engine.
	ErrUnsupportedSyntax = errors.New("dockerfile syntax not supported by the engine's builder")
	// ErrBuildSecret is wrapped when a build secret cannot be read or passed to the
	// engine (it needs a BuildKit session).
	ErrBuildSecret = errors.New("build secret unavailable")
)

// engineFacts are what decides the builder: learned once per engine.
type engineFacts struct {
	apiVersion     string // negotiated API version
	builderVersion string // /_ping's Builder-Version header: "1", "2" or ""
	osType         string
	version        string // the engine's version, "20.10.24"
	podman         bool   // podman's Docker-compatible API (it builds with buildah)
}

var facts sync.Map // *engine.Engine -> func() (engineFacts, error)

// getFacts pings the engine and asks its version, once per engine.
func getFacts(ctx context.Context, eng *engine.Engine) (engineFacts, error) {
	f, _ := facts.LoadOrStore(eng, sync.OnceValues(func() (engineFacts, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		p, err := eng.Client.Ping(ctx)
		if err != nil {
			return engineFacts{}, fmt.Errorf("ping engine: %w", err)
		}
		v, err := eng.Client.ServerVersion(ctx)
		if err != nil {
			return engineFacts{}, fmt.Errorf("engine version: %w", err)
		}
		api := eng.Client.ClientVersion()
		if api == "" {
			api = p.APIVersion
		}
		return engineFacts{apiVersion: api, builderVersion: string(p.BuilderVersion), osType: p.OSType, version: v.Version, podman: engine.IsPodman(v)}, nil
	}))
	return f.(func() (engineFacts, error))()
}

// builderChoice is the builder a build uses and why.
type builderChoice struct {
	name  string // builderBuildKit or builderClassic
	why   string // for error messages
	facts engineFacts
}

// chooseBuilder decides the builder from CONTAINERTEST_BUILDER and the engine: BuildKit
// when the engine's API has it (1.39 or later, Linux) and its default builder is not
// set to the classic one (Builder-Version "1"), else the classic builder.
func chooseBuilder(ctx context.Context, eng *engine.Engine) (builderChoice, error) {
	f, err := getFacts(ctx, eng)
	if err != nil {
		return builderChoice{}, err
	}
	return decideBuilder(os.Getenv(builderEnv), f)
}

// decideBuilder is chooseBuilder given the value of CONTAINERTEST_BUILDER and the
// engine's facts.
func decideBuilder(env string, f engineFacts) (builderChoice, error) {
	env = strings.ToLower(strings.TrimSpace(env))
	engineDesc := fmt.Sprintf("Docker %s (API %s)", f.version, f.apiVersion)
	var lacks string
	switch {
	case f.osType != "" && f.osType != "linux":
		lacks = fmt.Sprintf("the engine %s runs %s containers; BuildKit builds need a Linux engine", engineDesc, f.osType)
	case versions.LessThan(f.apiVersion, minBuildKitAPI):
		lacks = fmt.Sprintf("the engine %s predates BuildKit builds (API %s)", engineDesc, minBuildKitAPI)
	case f.podman:
		lacks = fmt.Sprintf("the engine is podman %s, which builds with buildah: its Docker-compatible API takes no BuildKit builds", f.version)
	}
	switch env {
	case builderClassic:
		return builderChoice{name: builderClassic, why: builderEnv + "=classic", facts: f}, nil
	case builderBuildKit:
		if lacks != "" {
			return builderChoice{}, fmt.Errorf("%s=buildkit: %s", builderEnv, lacks)
		}
		return builderChoice{name: builderBuildKit, why: builderEnv + "=buildkit", facts: f}, nil
	case "", "auto":
	default:
		return builderChoice{}, fmt.Errorf("%s=%q: want buildkit, classic or auto", builderEnv, env)
	}
	if lacks != "" {
		return builderChoice{name: builderClassic, why: lacks, facts: f}, nil
	}
	if f.builderVersion == string(build.BuilderV1) {
		return builderChoice{name: builderClassic, why: fmt.Sprintf("the engine %s has the classic builder as its default (Builder-Version 1)", engineDesc), facts: f}, nil
	}
	return builderChoice{name: builderBuildKit, why: "the engine has BuildKit", facts: f}, nil
}

// engineAtLeast reports whether the engine version v ("20.10.24+dfsg1") is at least
// min ("23.0").
func engineAtLeast(v, min string) bool {
	parse := func(s string) []int {
		s, _, _ = strings.Cut(s, "+")
		s, _, _ = strings.Cut(s, "-")
		var out []int
		for _, p := range strings.Split(s, ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				break
			}
			out = append(out, n)
		}
		return out
	}
	a, b := parse(v), parse(min)
	for i := range b {
		x := 0
		if i < len(a) {
			x = a[i]
		}
		if x != b[i] {
			return x > b[i]
		}
	}
	return true
}

// checkSyntax fails, before anything is sent, when the Dockerfile uses syntax that
// the chosen builder lacks, or names a frontend image the engine cannot get.
func (b *buildSpec) checkSyntax(ctx context.Context, eng *engine.Engine, df *buildcache.Dockerfile, bc builderChoice) error {
	engineDesc := fmt.Sprintf("Docker %s (API %s)", bc.facts.version, bc.facts.apiVersion)
	if bc.name == builderClassic {
		for _, f := range df.Features {
			return fmt.Errorf("%w: %s:%d: %s (in %q) needs BuildKit, and this build uses the classic builder because %s; "+
				"unset %s or use an engine with BuildKit", ErrUnsupportedSyntax, df.Path, f.Line, f.Name, f.Instruction, bc.why, builderEnv)
		}
		if len(b.secrets) > 0 {
			return fmt.Errorf("%w: build secrets need BuildKit, and this build uses the classic builder because %s", ErrBuildSecret, bc.why)
		}
		return nil
	}
	if df.Syntax != "" {
		// The engine runs the named frontend image instead of its built-in one.
		if _, err := baseImageID(ctx, eng, df.Syntax); err != nil {
			return fmt.Errorf("%w: %s:%d: the # syntax= line names the frontend image %s, which the engine %s cannot get: %w; "+
				"load that image into the engine, or remove the line to use the engine's built-in Dockerfile frontend",
				ErrUnsupportedSyntax, df.Path, df.SyntaxLine, df.Syntax, engineDesc, err)
		}
		return nil
	}
	for _, f := range df.Features {
		if !engineAtLeast(bc.facts.version, f.MinEngine) {
			return fmt.Errorf("%w: %s:%d: %s (in %q) needs the Dockerfile frontend of Docker %s or later, and the built-in frontend of this engine, %s, predates it; "+
				"upgrade the engine, or add a \"# syntax=docker/dockerfile:1\" line with that frontend image available to the engine",
				ErrUnsupportedSyntax, df.Path, f.Line, f.Name, f.Instruction, f.MinEngine, engineDesc)
		}
	}
	return nil
}

// secretSource is where a build secret's value comes from.
type secretSource struct {
	kind  string // "value", "env" or "file"
	name  string // the variable or file, for env and file
	value string // for value
}

// identity is what the key holds for the secret: never its value.
func (s secretSource) identity() string {
	if s.kind == "value" {
		return "value"
	}
	return s.kind + ":" + s.name
}

// read returns the secret's value.
func (s secretSource) read(id string) ([]byte, error) {
	switch s.kind {
	case "env":
		v, ok := os.LookupEnv(s.name)
		if !ok {
			return nil, fmt.Errorf("%w: secret %q: environment variable %s is not set", ErrBuildSecret, id, s.name)
		}
		return []byte(v), nil
	case "file":
		v, err := os.ReadFile(s.name)
		if err != nil {
			return nil, fmt.Errorf("%w: secret %q: %w", ErrBuildSecret, id, err)
		}
		return v, nil
	}
	return []byte(s.value), nil
}

// readSecrets returns the values of the build's secrets.
func (b *buildSpec) readSecrets() (map[string][]byte, error) {
	if len(b.secrets) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(b.secrets))
	for id, src := range b.secrets {
		v, err := src.read(id)
		if err != nil {
			return nil, err
		}
		if len(v) > secretsprovider.MaxSecretSize {
			return nil, fmt.Errorf("%w: secret %q: %d bytes, more than BuildKit's limit of %d", ErrBuildSecret, id, len(v), secretsprovider.MaxSecretSize)
		}
		out[id] = v
	}
	return out, nil
}

// dialSession opens the engine's /session endpoint; tests replace it.
var dialSession = func(ctx context.Context, eng *engine.Engine, proto string, meta map[string][]string) (net.Conn, error) {
	return eng.Client.DialHijack(ctx, "/session", proto, meta)
}

// startSession starts a BuildKit session on the engine that serves the secrets, and
// returns it once the engine has accepted it.
func startSession(ctx context.Context, eng *engine.Engine, secrets map[string][]byte) (*session.Session, error) {
	s, err := session.NewSession(ctx, "containertest")
	if err != nil {
		return nil, fmt.Errorf("%w: start BuildKit session: %w", ErrBuildSecret, err)
	}
	s.Allow(secretsprovider.FromMap(secrets))
	dialed := make(chan error, 1)
	go func() {
		err := s.Run(ctx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			c, err := dialSession(ctx, eng, proto, meta)
			dialed <- err
			return c, err
		})
		if err != nil {
			select {
			case dialed <- err:
			default:
			}
		}
	}()
	select {
	case err := <-dialed:
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%w: build secrets need a BuildKit session on the engine's /session endpoint, which failed: %w", ErrBuildSecret, err)
		}
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	return s, nil
}

// sendBuildKit builds bc through the engine's BuildKit as tag, labelled with key.
func (b *buildSpec) sendBuildKit(ctx context.Context, eng *engine.Engine, logf func(string, ...any), bc *buildcache.BuildContext, labels map[string]string, tag string, secrets map[string][]byte) error {
	opts := build.ImageBuildOptions{
		Version:    build.BuilderBuildKit,
		Tags:       []string{tag},
		Dockerfile: bc.Dockerfile,
		BuildArgs:  b.args,
		Target:     b.target,
		Platform:   b.platform,
		NoCache:    b.noCache,
		Labels:     labels, // frontend attributes: no build step
	}
	if len(secrets) > 0 {
		s, err := startSession(ctx, eng, secrets)
		if err != nil {
			return fmt.Errorf("build %s: %w", b.contextDir, err)
		}
		defer s.Close()
		opts.SessionID = s.ID()
	}
	resp, err := eng.Client.ImageBuild(ctx, bc, opts)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.contextDir, err)
	}
	defer resp.Body.Close()
	return readBuildKitOutput(resp.Body, b.contextDir, logf, newRedactor(secrets))
}

// redactor removes secret values from build output.
type redactor struct{ r *strings.Replacer }

// newRedactor returns a redactor of the values.
func newRedactor(secrets map[string][]byte) redactor {
	var pairs []string
	for _, v := range secrets {
		if s := strings.TrimSpace(string(v)); s != "" {
			pairs = append(pairs, s, "[secret]")
		}
	}
	if len(pairs) == 0 {
		return redactor{}
	}
	return redactor{strings.NewReplacer(pairs...)}
}

// clean returns s without secret values or terminal escapes.
func (r redactor) clean(s string) string {
	s = ansiEscape.ReplaceAllString(s, "")
	if r.r != nil {
		s = r.r.Replace(s)
	}
	return s
}

// vertex is one step of a BuildKit build, as its status stream reports it.
type vertex struct {
	name    string
	started time.Time
	done    bool
	partial [3]string // output not yet ended by a newline, by stream
	lines   []outLine // the last lines of output
}

// outLine is a line of a step's output: stream 1 is stdout, 2 stderr.
type outLine struct {
	stream int64
	text   string
}

// flush ends the partial lines of v.
func (v *vertex) flush(add func(*vertex, int64, string)) {
	for stream, p := range v.partial {
		if p != "" {
			v.partial[stream] = ""
			add(v, int64(stream), strings.TrimRight(p, "\r"))
		}
	}
}

// maxVertexLines is the output kept per stream for an error: the engine sends the
// streams separately, so the last lines of each are kept.
const maxVertexLines = 30

// tail returns the last maxVertexLines lines of each stream, in the order they came.
func (v *vertex) tail() string {
	n := map[int64]int{}
	var keep []string
	for i := len(v.lines) - 1; i >= 0; i-- {
		l := v.lines[i]
		if n[l.stream] < maxVertexLines {
			n[l.stream]++
			keep = append(keep, l.text)
		}
	}
	slices.Reverse(keep)
	return strings.Join(keep, "\n")
}

// internalVertex matches the bookkeeping steps of BuildKit, which are not logged.
var internalVertex = regexp.MustCompile(`^(\[internal\]|\[auth\]|copy /context /|exporting to image|importing cache|resolve image config|load build context)`)

// stepName turns BuildKit's "[stage-0 2/3] RUN make" into "step [stage-0 2/3] RUN make".
func stepName(name string) string { return "step " + strings.Join(strings.Fields(name), " ") }

// maxStepName bounds a step's name in log lines (errors carry it whole).
const maxStepName = 100

// mountFlag matches a RUN step's --mount flag, which log lines leave out.
var mountFlag = regexp.MustCompile(`--mount=\S+\s+`)

// shortStep is stepName without mount flags, cut to maxStepName characters.
func shortStep(name string) string {
	s := mountFlag.ReplaceAllString(stepName(name), "")
	if r := []rune(s); len(r) > maxStepName {
		s = string(r[:maxStepName-1]) + "…"
	}
	return s
}

// readBuildKitOutput follows the JSON build stream of a BuildKit build, decoding its
// status messages (moby.buildkit.trace) into the test log: each step when it is done,
// cached or not, with its duration, and the output of RUN steps. A failure names the
// failing step and carries the last lines of its output.
func readBuildKitOutput(r io.Reader, dir string, logf func(string, ...any), red redactor) error {
	base := filepath.Base(dir)
	vertices := map[string]*vertex{}
	var failed *vertex
	var failedErr string
	get := func(d string) *vertex {
		v := vertices[d]
		if v == nil {
			v = &vertex{}
			vertices[d] = v
		}
		return v
	}
	addLine := func(v *vertex, stream int64, line string) {
		line = red.clean(line)
		v.lines = append(v.lines, outLine{stream, line})
		if len(v.lines) > 4*maxVertexLines {
			v.lines = slices.Delete(v.lines, 0, 2*maxVertexLines)
		}
		if !internalVertex.MatchString(v.name) {
			logf("containers: build %s: %s: | %s", base, red.clean(shortStep(v.name)), line)
		}
	}
	dec := json.NewDecoder(r)
	for {
		msg, err := nextBuildMessage(dec, dir)
		if err != nil || msg == nil {
			return err
		}
		if msg.ID == "moby.buildkit.trace" && len(msg.Aux) > 0 {
			var dt []byte
			if err := json.Unmarshal(msg.Aux, &dt); err != nil {
				return fmt.Errorf("build %s: read build status: %w", dir, err)
			}
			var st controlapi.StatusResponse
			if err := st.UnmarshalVT(dt); err != nil {
				return fmt.Errorf("build %s: decode build status: %w", dir, err)
			}
			for _, sv := range st.Vertexes {
				v := get(sv.Digest)
				v.name = sv.Name
				if sv.Started != nil && v.started.IsZero() {
					v.started = sv.Started.AsTime()
				}
				if sv.Error != "" && failed == nil {
					failed, failedErr = v, red.clean(sv.Error)
				}
				if sv.Completed == nil || v.done {
					continue
				}
				v.done = true
				v.flush(addLine)
				if internalVertex.MatchString(v.name) && sv.Error == "" {
					continue
				}
				name := red.clean(shortStep(v.name))
				switch {
				case sv.Error != "":
					logf("containers: build %s: %s: failed: %s", base, name, red.clean(sv.Error))
				case sv.Cached:
					logf("containers: build %s: %s: cached", base, name)
				default:
					d := time.Duration(0)
					if !v.started.IsZero() {
						d = sv.Completed.AsTime().Sub(v.started)
					}
					logf("containers: build %s: %s: done in %.1fs", base, name, d.Seconds())
				}
			}
			for _, l := range st.Logs {
				v := get(l.Vertex)
				stream := min(max(l.Stream, 0), 2)
				lines := strings.Split(v.partial[stream]+string(l.Msg), "\n")
				v.partial[stream] = lines[len(lines)-1]
				for _, line := range lines[:len(lines)-1] {
					addLine(v, stream, strings.TrimRight(line, "\r"))
				}
			}
			continue
		}
		if msg.Error == "" {
			continue
		}
		errText := red.clean(strings.TrimSpace(msg.Error))
		if failed == nil {
			return fmt.Errorf("build %s: %w: %s", dir, ErrBuildFailed, errText)
		}
		failed.flush(addLine)
		if failedErr != "" && !strings.Contains(errText, failedErr) {
			errText += " (" + failedErr + ")"
		}
		out := failed.tail()
		if out == "" {
			out = "(none)"
		}
		return fmt.Errorf("build %s: %w at %s: %s\nlast build output:\n\t%s", dir, ErrBuildFailed,
			red.clean(stepName(failed.name)), errText, strings.ReplaceAll(out, "\n", "\n\t"))
	}
}
