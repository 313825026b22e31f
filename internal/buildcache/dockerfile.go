package buildcache

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// scratchImage is the empty base image, which is not an image at all.
const scratchImage = "scratch"

// Dockerfile is what ParseDockerfile learns from a Dockerfile.
type Dockerfile struct {
	// Path is the absolute path of the file (set by ReadDockerfile only).
	Path string
	// Stages are the build stages in order.
	Stages []Stage
	// BaseImages are the images the build needs from the engine, in order
	// of first use and without duplicates: the FROM images after ARG
	// substitution and the images named by COPY --from and
	// RUN --mount=from=, except stage names and scratch. Only the stages up
	// to and including the target count: the engine's classic builder
	// builds exactly those, and BuildKit a subset of them.
	BaseImages []string
	// OutsideContext is true when the Dockerfile lies outside the context
	// directory (set by ReadDockerfile only).
	OutsideContext bool
	// Syntax is the frontend image of a "# syntax=" directive, "" if none,
	// and SyntaxLine its line.
	Syntax     string
	SyntaxLine int
	// Features are the constructs, in line order, that the engine's classic
	// builder lacks and that older BuildKit frontends lack too.
	Features []Feature
}

// Feature is one use of Dockerfile syntax that not every builder has.
type Feature struct {
	// Name says what it is: "heredoc", "RUN --mount=type=cache", "COPY --link".
	Name string
	// Line is where it is used, starting at 1; Instruction is its source.
	Line        int
	Instruction string
	// MinEngine is the first Docker engine version ("23.0") whose built-in
	// BuildKit frontend has it.
	MinEngine string
}

// Stage is one FROM of a Dockerfile.
type Stage struct {
	// Name is the stage name ("AS name"), lower-cased; "" if unnamed.
	Name string
	// Base is the FROM argument after ARG substitution: an image, an
	// earlier stage's name or scratch.
	Base string
	// Line is the line of the FROM instruction, starting at 1.
	Line int
}

// DockerfileError is a Dockerfile that cannot be parsed; it matches
// ErrInvalidDockerfile with errors.Is.
type DockerfileError struct {
	// Path is the Dockerfile, if known.
	Path string
	// Line is the line of the offending instruction, 0 if unknown.
	Line int
	// Instruction is the source text of the offending instruction, if any.
	Instruction string
	// Err is what is wrong.
	Err error
}

// Error implements error: `parse Dockerfile <path>:<line>: <cause> (in
// "<instruction>")`, or `parse Dockerfile: line <line>: ...` without a path.
func (e *DockerfileError) Error() string {
	var b strings.Builder
	b.WriteString("parse Dockerfile")
	switch {
	case e.Path != "" && e.Line > 0:
		fmt.Fprintf(&b, " %s:%d", e.Path, e.Line)
	case e.Path != "":
		b.WriteString(" " + e.Path)
	case e.Line > 0:
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	b.WriteString(": " + e.Err.Error())
	if e.Instruction != "" {
		fmt.Fprintf(&b, " (in %q)", e.Instruction)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *DockerfileError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidDockerfile.
func (e *DockerfileError) Is(target error) bool { return target == ErrInvalidDockerfile }

// ReadDockerfile resolves and parses the Dockerfile of in, with its build
// args, target and platform. Errors name the path.
func ReadDockerfile(in Input) (*Dockerfile, error) {
	r, err := in.resolve()
	if err != nil {
		return nil, err
	}
	return r.parse(in)
}

// parse parses the Dockerfile of r with the args of in.
func (r *resolved) parse(in Input) (*Dockerfile, error) {
	df, err := ParseDockerfile(r.content, in.BuildArgs, in.Target, in.Platform)
	if err != nil {
		if de := (*DockerfileError)(nil); errors.As(err, &de) {
			de.Path = r.dockerfile
		}
		return nil, err
	}
	df.Path = r.dockerfile
	df.OutsideContext = r.relDockerfile == ""
	return df, nil
}

// ParseDockerfile parses content with BuildKit's Dockerfile parser and
// returns its stages and base images. Global ARGs (those before the first
// FROM) are substituted in FROM lines, with their defaults overridden by
// buildArgs (a nil value keeps the default), and with BuildKit's automatic
// platform args (TARGETPLATFORM, TARGETARCH, BUILDPLATFORM, ...) derived from
// platform, which may be empty. A non-empty target must name a stage.
func ParseDockerfile(content []byte, buildArgs map[string]*string, target, platform string) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, newDockerfileError(err, nil)
	}
	// Parse every instruction first: the automatic TARGETSTAGE arg of a
	// build without target is the name of the last stage.
	type parsed struct {
		node *parser.Node
		cmd  any
	}
	var cmds []parsed
	lastName := ""
	var features []Feature
	feature := func(name, minEngine string, n *parser.Node) {
		features = append(features, Feature{Name: name, Line: n.StartLine,
			Instruction: strings.TrimSpace(n.Original), MinEngine: minEngine})
	}
	for _, n := range res.AST.Children {
		cmd, err := instructions.ParseInstruction(n)
		if err != nil {
			return nil, newDockerfileError(err, n)
		}
		if len(n.Heredocs) > 0 {
			feature("heredoc", "23.0", n)
		}
		switch c := cmd.(type) {
		case *instructions.RunCommand:
			for _, t := range mountTypes(n) {
				feature("RUN --mount=type="+t, "20.10", n)
			}
		case *instructions.CopyCommand:
			if c.Link {
				feature("COPY --link", "23.0", n)
			}
		case *instructions.AddCommand:
			if c.Link {
				feature("ADD --link", "23.0", n)
			}
		}
		if st, ok := cmd.(*instructions.Stage); ok {
			lastName = st.Name
		}
		cmds = append(cmds, parsed{node: n, cmd: cmd})
	}

	lex := shell.NewLex(res.EscapeToken)
	args, err := platformArgs(platform)
	if err != nil {
		return nil, err
	}
	switch {
	case target != "":
		args.set("TARGETSTAGE", target)
	case lastName != "":
		args.set("TARGETSTAGE", lastName)
	}
	for _, k := range args.Keys() {
		if v, ok := buildArgs[k]; ok && v != nil {
			args.set(k, *v)
		}
	}

	type stageInfo struct {
		Stage
		commands []instructions.Command
	}
	var stages []*stageInfo
	for _, p := range cmds {
		n := p.node
		switch c := p.cmd.(type) {
		case *instructions.ArgCommand:
			if len(stages) > 0 {
				stages[len(stages)-1].commands = append(stages[len(stages)-1].commands, c)
				continue
			}
			// A global ARG: its value is visible to the FROM lines.
			for _, kv := range c.Args {
				if v, ok := buildArgs[kv.Key]; ok && v != nil {
					args.set(kv.Key, *v)
					continue
				}
				if kv.Value == nil {
					continue
				}
				w, err := lex.ProcessWordWithMatches(*kv.Value, args)
				if err != nil {
					return nil, newDockerfileError(err, n)
				}
				args.set(kv.Key, w.Result)
			}
		case *instructions.Stage:
			w, err := lex.ProcessWordWithMatches(c.BaseName, args)
			if err != nil {
				return nil, newDockerfileError(err, n)
			}
			if w.Result == "" {
				return nil, newDockerfileError(fmt.Errorf("base name (%s) should not be blank", c.BaseName), n)
			}
			stages = append(stages, &stageInfo{
				Stage: Stage{Name: c.Name, Base: w.Result, Line: n.StartLine},
			})
		case instructions.Command:
			if len(stages) == 0 {
				return nil, newDockerfileError(errors.New("no build stage in current context: the first instruction must be FROM or ARG"), n)
			}
			stages[len(stages)-1].commands = append(stages[len(stages)-1].commands, c)
		default:
			return nil, newDockerfileError(fmt.Errorf("%T is not a command type", c), n)
		}
	}
	if len(stages) == 0 {
		return nil, newDockerfileError(errors.New("no FROM instruction: the Dockerfile has no stage to build"), nil)
	}

	df := &Dockerfile{Features: features}
	if syntax, _, loc, ok := parser.DetectSyntax(content); ok {
		df.Syntax = syntax
		if len(loc) > 0 {
			df.SyntaxLine = loc[0].Start.Line
		}
	}
	last := len(stages) - 1
	names := map[string]bool{}
	for i, st := range stages {
		df.Stages = append(df.Stages, st.Stage)
		if target != "" && st.Name == target {
			last = i
		}
		if st.Name != "" {
			names[st.Name] = true
		}
	}
	if target != "" && stages[last].Name != target {
		var known []string
		for _, st := range stages {
			if st.Name != "" {
				known = append(known, st.Name)
			}
		}
		return nil, fmt.Errorf("find target %q: %w (stages: %s)", target, ErrUnknownTarget, strings.Join(known, ", "))
	}

	seen := map[string]bool{}
	add := func(ref string) {
		if ref != scratchImage && !seen[ref] {
			seen[ref] = true
			df.BaseImages = append(df.BaseImages, ref)
		}
	}
	earlier := map[string]bool{}
	// isStage reports whether a --from value names a stage, as BuildKit
	// resolves it: a stage name in any case, or for COPY a stage index.
	isStage := func(from string, index bool) bool {
		if names[strings.ToLower(from)] {
			return true
		}
		i, err := strconv.Atoi(from)
		return index && err == nil && i >= 0 && i < len(stages)
	}
	for _, st := range stages[:last+1] {
		if !earlier[st.Base] {
			add(st.Base)
		}
		for _, c := range st.commands {
			type ref struct {
				from  string
				index bool
			}
			var refs []ref
			switch c := c.(type) {
			case *instructions.CopyCommand:
				refs = append(refs, ref{c.From, true})
			case *instructions.RunCommand:
				for _, m := range instructions.GetMounts(c) {
					refs = append(refs, ref{m.From, false})
				}
			}
			for _, r := range refs {
				if r.from == "" || isStage(r.from, r.index) {
					continue
				}
				if strings.Contains(r.from, "$") {
					return nil, newDockerfileError(errors.New("variable expansion is not supported for --from"), commandNode(c, st.Line))
				}
				add(r.from)
			}
		}
		if st.Name != "" {
			earlier[st.Name] = true
		}
	}
	return df, nil
}

// mountTypes returns the type of each --mount flag of the RUN node n
// ("bind" when not given). The instruction parser leaves types unset until
// the build expands variables, which a type cannot use anyway.
func mountTypes(n *parser.Node) []string {
	var types []string
	for _, f := range n.Flags {
		v, ok := strings.CutPrefix(f, "--mount=")
		if !ok {
			continue
		}
		t := string(instructions.MountTypeBind)
		fields, err := csv.NewReader(strings.NewReader(v)).Read()
		if err != nil {
			fields = strings.Split(v, ",")
		}
		for _, field := range fields {
			if k, val, ok := strings.Cut(field, "="); ok && strings.EqualFold(k, "type") {
				t = strings.ToLower(val)
			}
		}
		types = append(types, t)
	}
	return types
}

// commandNode returns a node that locates c for an error (instructions do
// not keep their node), falling back to line.
func commandNode(c instructions.Command, line int) *parser.Node {
	if l := c.Location(); len(l) > 0 {
		line = l[0].Start.Line
	}
	return &parser.Node{StartLine: line}
}

// newDockerfileError wraps a parser error, locating it at n or at the
// location the parser recorded.
func newDockerfileError(err error, n *parser.Node) error {
	de := &DockerfileError{Err: err}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		de.Line = le.Locations[0][0].Start.Line
		de.Err = le.Unwrap()
	}
	if n != nil {
		if n.StartLine > 0 {
			de.Line = n.StartLine
		}
		de.Instruction = strings.TrimSpace(n.Original)
	}
	return de
}

// platformArgs returns BuildKit's automatic platform args for platform
// (empty: the engine default, linux on this machine's architecture).
func platformArgs(platform string) (*envList, error) {
	// The engine runs Linux containers on this machine's architecture.
	build := platforms.DefaultSpec()
	build.OS, build.OSVersion, build.OSFeatures = "linux", "", nil
	build = platforms.Normalize(build)
	tp := build
	if platform != "" {
		p, err := ParsePlatform(platform)
		if err != nil {
			return nil, err
		}
		tp = p
	}
	e := &envList{}
	e.set("BUILDPLATFORM", platforms.Format(build))
	e.set("BUILDOS", build.OS)
	e.set("BUILDOSVERSION", build.OSVersion)
	e.set("BUILDARCH", build.Architecture)
	e.set("BUILDVARIANT", build.Variant)
	e.set("TARGETPLATFORM", platforms.FormatAll(tp))
	e.set("TARGETOS", tp.OS)
	e.set("TARGETOSVERSION", tp.OSVersion)
	e.set("TARGETARCH", tp.Architecture)
	e.set("TARGETVARIANT", tp.Variant)
	e.set("TARGETSTAGE", "default")
	return e, nil
}

// envList is an ordered set of variables for the shell lexer.
type envList struct {
	keys []string
	vals map[string]string
}

var _ shell.EnvGetter = (*envList)(nil)

// set adds or replaces a variable.
func (e *envList) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

// Get implements shell.EnvGetter.
func (e *envList) Get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

// Keys implements shell.EnvGetter.
func (e *envList) Keys() []string { return slices.Clone(e.keys) }

// Operating systems and architectures of OCI image platforms, as Go names
// them (GOOS, GOARCH) and container images use them.
var (
	knownOS = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios",
		"js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"}
	knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le",
		"mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
	// knownVariants are the variants of the architectures that have them.
	knownVariants = map[string][]string{
		"amd64": {"v1", "v2", "v3", "v4"},
		"arm":   {"v5", "v6", "v7", "v8"},
		"arm64": {"v8", "v8.0", "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9",
			"v9", "v9.0", "v9.1", "v9.2", "v9.3", "v9.4", "v9.5"},
		"riscv64": {"rva20u64", "rva22u64", "rva23u64"},
	}
)

// ParsePlatform parses a build platform ("linux/arm64", "linux/arm/v7") and
// returns it normalized. Unlike platforms.Parse, which accepts any name, an
// operating system, architecture or variant that no image can have is an
// error that matches ErrInvalidPlatform and names the part.
func ParsePlatform(platform string) (platforms.Platform, error) {
	p, err := platforms.Parse(platform)
	if err != nil {
		return p, fmt.Errorf("parse platform %q: %w: %w", platform, ErrInvalidPlatform, err)
	}
	p = platforms.Normalize(p)
	switch {
	case !slices.Contains(knownOS, p.OS):
		return p, fmt.Errorf("parse platform %q: %w: unknown operating system %q (known: %s)",
			platform, ErrInvalidPlatform, p.OS, strings.Join(knownOS, ", "))
	case !slices.Contains(knownArch, p.Architecture):
		return p, fmt.Errorf("parse platform %q: %w: unknown architecture %q (known: %s)",
			platform, ErrInvalidPlatform, p.Architecture, strings.Join(knownArch, ", "))
	case p.Variant != "" && !slices.Contains(knownVariants[p.Architecture], p.Variant):
		known := "none"
		if v := knownVariants[p.Architecture]; len(v) > 0 {
			known = strings.Join(v, ", ")
		}
		return p, fmt.Errorf("parse platform %q: %w: unknown variant %q of %s (known: %s)",
			platform, ErrInvalidPlatform, p.Variant, p.Architecture, known)
	}
	return p, nil
}
