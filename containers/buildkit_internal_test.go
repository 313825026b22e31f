package containers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// statusStream is a BuildKit build's JSON stream as the engine sends it.
type statusStream struct{ bytes.Buffer }

// status appends one moby.buildkit.trace message.
func (s *statusStream) status(t *testing.T, st *controlapi.StatusResponse) {
	t.Helper()
	dt, err := st.MarshalVT()
	require.NoError(t, err)
	aux, err := json.Marshal(dt) // []byte: base64, as the engine sends it
	require.NoError(t, err)
	require.NoError(t, json.NewEncoder(s).Encode(map[string]any{"id": "moby.buildkit.trace", "aux": json.RawMessage(aux)}))
}

func TestReadBuildKitOutput(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	vx := func(d, name string, started, completed *timestamppb.Timestamp, cached bool, errText string) *controlapi.Vertex {
		return &controlapi.Vertex{Digest: d, Name: name, Started: started, Completed: completed, Cached: cached, Error: errText}
	}
	const secret = "hunter2-secret"

	var s statusStream
	s.status(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{
		vx("sha256:ctx", "[internal] load remote build context", ts(0), ts(time.Second), false, ""),
		vx("sha256:from", "[1/3] FROM docker.io/library/busybox:latest", ts(0), ts(0), true, ""),
		vx("sha256:run", "[2/3] RUN --mount=type=cache,target=/c   make   all", ts(time.Second), nil, false, ""),
	}})
	// Output in pieces, a line split between messages, both streams.
	s.status(t, &controlapi.StatusResponse{Logs: []*controlapi.VertexLog{
		{Vertex: "sha256:run", Stream: 1, Msg: []byte("compiling\nhalf a ")},
		{Vertex: "sha256:run", Stream: 2, Msg: []byte("warning: " + secret + "\n")},
		{Vertex: "sha256:run", Stream: 1, Msg: []byte("line\n\x1b[31mred\x1b[0m\n")},
	}})
	s.status(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{
		vx("sha256:run", "[2/3] RUN --mount=type=cache,target=/c   make   all", ts(time.Second), ts(3500*time.Millisecond), false, ""),
	}})

	var lines []string
	logf := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	red := newRedactor(map[string][]byte{"tok": []byte(secret)})
	require.NoError(t, readBuildKitOutput(bytes.NewReader(s.Bytes()), "/x/app", logf, red))
	assert.Equal(t, []string{
		"containers: build app: step [1/3] FROM docker.io/library/busybox:latest: cached",
		"containers: build app: step [2/3] RUN make all: | compiling",
		"containers: build app: step [2/3] RUN make all: | warning: [secret]",
		"containers: build app: step [2/3] RUN make all: | half a line",
		"containers: build app: step [2/3] RUN make all: | red",
		"containers: build app: step [2/3] RUN make all: done in 2.5s",
	}, lines)

	// A failure: the failing step, the engine's error, the tail of each stream.
	var f statusStream
	f.status(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{vx("sha256:t", "[3/3] RUN ./test.sh", ts(0), nil, false, "")}})
	var out strings.Builder
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&out, "out-%d\n", i)
	}
	f.status(t, &controlapi.StatusResponse{Logs: []*controlapi.VertexLog{
		{Vertex: "sha256:t", Stream: 2, Msg: []byte("err-early " + secret + "\n")},
		{Vertex: "sha256:t", Stream: 1, Msg: []byte(out.String())},
	}})
	f.status(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{
		vx("sha256:t", "[3/3] RUN ./test.sh", ts(0), ts(time.Second), false, "exit code: 3"),
	}})
	require.NoError(t, json.NewEncoder(&f).Encode(map[string]any{"error": "executor failed running [/bin/sh -c ./test.sh]: exit code: 3"}))
	lines = nil
	err := readBuildKitOutput(bytes.NewReader(f.Bytes()), "/x/app", logf, red)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrBuildFailed))
	msg := err.Error()
	assert.Contains(t, msg, "image build failed at step [3/3] RUN ./test.sh: executor failed running [/bin/sh -c ./test.sh]: exit code: 3")
	assert.Contains(t, msg, "err-early [secret]", "stderr, though older than the last 30 lines of stdout")
	assert.Contains(t, msg, "out-50")
	assert.Contains(t, msg, "out-21")
	assert.NotContains(t, msg, "out-20\n")
	assert.NotContains(t, msg, secret)
	assert.Contains(t, strings.Join(lines, "\n"), "step [3/3] RUN ./test.sh: failed: exit code: 3")

	// An error before any step.
	var e bytes.Buffer
	require.NoError(t, json.NewEncoder(&e).Encode(map[string]any{"error": "failed to read dockerfile"}))
	err = readBuildKitOutput(&e, "/x/app", logf, redactor{})
	assert.ErrorIs(t, err, ErrBuildFailed)
	assert.ErrorContains(t, err, "failed to read dockerfile")
}

func TestEngineAtLeast(t *testing.T) {
	for _, c := range []struct {
		v, min string
		want   bool
	}{
		{"20.10.24+dfsg1", "23.0", false},
		{"20.10.24+dfsg1", "20.10", true},
		{"23.0.0", "23.0", true},
		{"28.5.2", "23.0", true},
		{"19.03.15", "20.10", false},
		{"20.10.0-rc1", "20.10", true},
	} {
		assert.Equal(t, c.want, engineAtLeast(c.v, c.min), "%s >= %s", c.v, c.min)
	}
}

func TestDecideBuilder(t *testing.T) {
	modern := engineFacts{apiVersion: "1.41", osType: "linux", version: "20.10.24"}
	withHeader := func(f engineFacts, v string) engineFacts { f.builderVersion = v; return f }
	old := engineFacts{apiVersion: "1.38", osType: "linux", version: "18.06.3"}
	windows := engineFacts{apiVersion: "1.41", osType: "windows", version: "20.10.7"}
	podman := engineFacts{apiVersion: "1.41", osType: "linux", version: "4.3.1", podman: true}
	cases := []struct {
		env     string
		facts   engineFacts
		want    string
		why     string // in the reason or the error
		wantErr bool
	}{
		{"", modern, builderBuildKit, "has BuildKit", false},
		{"", withHeader(modern, "2"), builderBuildKit, "has BuildKit", false},
		{"auto", modern, builderBuildKit, "has BuildKit", false},
		{"", withHeader(modern, "1"), builderClassic, "Builder-Version 1", false},
		{"", old, builderClassic, "predates BuildKit", false},
		{"", windows, builderClassic, "windows containers", false},
		{"classic", modern, builderClassic, "CONTAINERTEST_BUILDER=classic", false},
		{" Classic ", modern, builderClassic, "CONTAINERTEST_BUILDER=classic", false},
		{"buildkit", withHeader(modern, "1"), builderBuildKit, "CONTAINERTEST_BUILDER=buildkit", false},
		{"buildkit", old, "", "predates BuildKit", true},
		{"kaniko", modern, "", `"kaniko": want buildkit, classic or auto`, true},
		{"", podman, builderClassic, "builds with buildah", false},
		{"buildkit", podman, "", "builds with buildah", true},
	}
	for _, c := range cases {
		got, err := decideBuilder(c.env, c.facts)
		if c.wantErr {
			assert.ErrorContains(t, err, c.why, "%q %+v", c.env, c.facts)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, c.want, got.name, "%q %+v", c.env, c.facts)
		assert.Contains(t, got.why, c.why)
	}
}
