package buildcache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func strp(s string) *string { return &s }

func TestParseDockerfileBaseImages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		src       string
		args      map[string]*string
		target    string
		platform  string
		want      []string
		wantNames []string
	}{{
		name: "single",
		src:  "FROM busybox:1.36\nRUN true\n",
		want: []string{"busybox:1.36"},
	}, {
		name: "global ARG default",
		src:  "ARG VERSION=1.36\nARG IMAGE=busybox\nFROM ${IMAGE}:$VERSION\n",
		want: []string{"busybox:1.36"},
	}, {
		name: "build arg overrides default",
		src:  "ARG VERSION=1.36\nFROM busybox:${VERSION}\n",
		args: map[string]*string{"VERSION": strp("1.37")},
		want: []string{"busybox:1.37"},
	}, {
		name: "nil build arg keeps default",
		src:  "ARG VERSION=1.36\nFROM busybox:${VERSION}\n",
		args: map[string]*string{"VERSION": nil},
		want: []string{"busybox:1.36"},
	}, {
		name: "ARG without default takes build arg",
		src:  "ARG REG\nFROM ${REG}/busybox\n",
		args: map[string]*string{"REG": strp("registry.example:5000")},
		want: []string{"registry.example:5000/busybox"},
	}, {
		name: "ARG default refers to earlier ARG",
		src:  "ARG A=1\nARG B=busybox:${A}.36\nFROM $B\n",
		args: map[string]*string{"A": strp("2")},
		want: []string{"busybox:2.36"},
	}, {
		name: "build arg not declared globally is not visible to FROM",
		src:  "FROM busybox:${V:-latest}\nARG V\n",
		args: map[string]*string{"V": strp("1.0")},
		want: []string{"busybox:latest"},
	}, {
		name: "ARG inside a stage is not global",
		src:  "FROM busybox AS a\nARG X=alpine\nFROM ${X:-debian}\n",
		want: []string{"busybox", "debian"},
	}, {
		name:      "stage names and scratch are not images",
		src:       "FROM golang:1.25 AS build\nRUN go build\nFROM scratch AS final\nCOPY --from=build /app /app\nFROM build AS test\n",
		want:      []string{"golang:1.25"},
		wantNames: []string{"build", "final", "test"},
	}, {
		name: "a stage name used before its stage is an image",
		src:  "FROM later\nFROM busybox AS later\n",
		want: []string{"later", "busybox"},
	}, {
		name: "duplicates once, in order of first use",
		src:  "FROM busybox AS a\nFROM alpine AS b\nFROM busybox AS c\n",
		want: []string{"busybox", "alpine"},
	}, {
		name: "COPY --from image, stage name and stage index",
		src: "FROM busybox AS base\nCOPY --from=nginx:1.27 /etc/nginx /etc/nginx\n" +
			"FROM base\nCOPY --from=base /x /x\nCOPY --from=0 /y /y\nCOPY --from=alpine /z /z\n",
		want: []string{"busybox", "nginx:1.27", "alpine"},
	}, {
		name: "COPY --from stage name in another case",
		src:  "FROM busybox AS builder\nFROM alpine\nCOPY --from=Builder /x /x\n",
		want: []string{"busybox", "alpine"},
	}, {
		name: "RUN --mount from stage; an index is an image there",
		src:  "FROM busybox AS b\nFROM alpine\nRUN --mount=from=b,target=/b --mount=from=0,target=/c true\n",
		want: []string{"busybox", "alpine", "0"},
	}, {
		name: "RUN --mount from image",
		src:  "FROM busybox\nRUN --mount=type=bind,from=alpine:3,target=/a true\n",
		want: []string{"busybox", "alpine:3"},
	}, {
		name:   "target drops later stages",
		src:    "FROM busybox AS one\nFROM alpine AS two\nCOPY --from=nginx /a /a\nFROM debian AS three\n",
		target: "two",
		want:   []string{"busybox", "alpine", "nginx"},
	}, {
		name:     "platform args",
		src:      "FROM --platform=$BUILDPLATFORM golang AS build\nFROM base-${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-}${TARGETVARIANT}\n",
		platform: "linux/arm/v7",
		want:     []string{"golang", "base-linux-arm-v7"},
	}, {
		name:   "TARGETSTAGE",
		src:    "FROM img-$TARGETSTAGE AS a\nFROM busybox AS b\n",
		target: "a",
		want:   []string{"img-a"},
	}, {
		name: "TARGETSTAGE defaults to the last stage",
		src:  "FROM img-$TARGETSTAGE AS a\nFROM busybox AS b\n",
		want: []string{"img-b", "busybox"},
	}, {
		name: "escape directive and line continuation",
		src:  "# escape=`\nARG TAG=1.36\nFROM `\n  busybox:${TAG}\n",
		want: []string{"busybox:1.36"},
	}, {
		name: "only scratch",
		src:  "FROM scratch\nCOPY a /a\n",
		want: nil,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			df, err := ParseDockerfile([]byte(tc.src), tc.args, tc.target, tc.platform)
			require.NoError(t, err)
			assert.Equal(t, tc.want, df.BaseImages)
			if tc.wantNames != nil {
				var names []string
				for _, st := range df.Stages {
					names = append(names, st.Name)
				}
				assert.Equal(t, tc.wantNames, names)
			}
		})
	}
}

func TestParseDockerfileStages(t *testing.T) {
	t.Parallel()
	df, err := ParseDockerfile([]byte("ARG V=1\n\nFROM busybox:$V AS Build\nRUN true\n\nFROM build\n"), nil, "", "")
	require.NoError(t, err)
	assert.Equal(t, []Stage{
		{Name: "build", Base: "busybox:1", Line: 3},
		{Name: "", Base: "build", Line: 6},
	}, df.Stages)
}

func TestParseDockerfileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		src      string
		target   string
		platform string
		is       error
		want     []string // substrings of the message
	}{{
		name: "unknown instruction",
		src:  "FROM busybox\nRUN true\nFORM alpine\n",
		is:   ErrInvalidDockerfile,
		want: []string{"line 3", "unknown instruction: FORM", `"FORM alpine"`},
	}, {
		name: "FROM without image",
		src:  "FROM busybox\n\nFROM\n",
		is:   ErrInvalidDockerfile,
		want: []string{"line 3", "FROM requires"},
	}, {
		name: "FROM with bad AS",
		src:  "FROM busybox AS 1bad\n",
		is:   ErrInvalidDockerfile,
		want: []string{"line 1", "invalid name for build stage"},
	}, {
		name: "instruction before FROM",
		src:  "ARG A=1\nRUN true\nFROM busybox\n",
		is:   ErrInvalidDockerfile,
		want: []string{"line 2", "no build stage", `"RUN true"`},
	}, {
		name: "no FROM",
		src:  "# just a comment\nARG A=1\n",
		is:   ErrInvalidDockerfile,
		want: []string{"no FROM instruction"},
	}, {
		name: "empty",
		src:  "",
		is:   ErrInvalidDockerfile,
		want: []string{"file with no instructions"},
	}, {
		name: "blank base after substitution",
		src:  "ARG IMG\nFROM $IMG\n",
		is:   ErrInvalidDockerfile,
		want: []string{"line 2", "should not be blank"},
	}, {
		name: "bad flag",
		src:  "FROM busybox\nCOPY --nope=1 a b\n",
		is:   ErrInvalidDockerfile,
		want: []string{"line 2", "unknown flag: --nope"},
	}, {
		name: "variable in --from",
		src:  "FROM busybox\nCOPY --from=$X a b\n",
		is:   ErrInvalidDockerfile,
		want: []string{"line 2", "variable expansion is not supported for --from"},
	}, {
		name:   "unknown target",
		src:    "FROM busybox AS one\nFROM alpine AS two\n",
		target: "three",
		is:     ErrUnknownTarget,
		want:   []string{`"three"`, "one, two"},
	}, {
		name:     "bad platform",
		src:      "FROM busybox\n",
		platform: "linux/x/y/z",
		want:     []string{`parse platform "linux/x/y/z"`},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDockerfile([]byte(tc.src), nil, tc.target, tc.platform)
			require.Error(t, err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestReadDockerfileErrorNamesPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	require.NoError(t, os.WriteFile(df, []byte("FROM busybox\nCMDD [\"x\"]\n"), 0o644))
	_, err := ReadDockerfile(Input{ContextDir: dir})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidDockerfile)
	var de *DockerfileError
	require.True(t, errors.As(err, &de))
	assert.Equal(t, 2, de.Line)
	assert.Contains(t, err.Error(), df+":2: unknown instruction: CMDD")

	got, err := ReadDockerfile(Input{ContextDir: t.TempDir(), Dockerfile: writeFile(t, t.TempDir(), "x.Dockerfile", "FROM alpine:3\n")})
	require.NoError(t, err)
	assert.Equal(t, []string{"alpine:3"}, got.BaseImages)
}

func TestReadDockerfileLowercaseFallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "dockerfile", "FROM alpine\n")
	df, err := ReadDockerfile(Input{ContextDir: dir})
	require.NoError(t, err)
	assert.Equal(t, []string{"alpine"}, df.BaseImages)
	assert.Equal(t, filepath.Join(dir, "dockerfile"), df.Path)
}

// writeFile writes content to dir/name (creating parents) with mode 0644
// and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	require.NoError(t, os.Chmod(p, 0o644))
	return p
}

func TestParseDockerfileFeatures(t *testing.T) {
	t.Parallel()
	const df = "# syntax=docker/dockerfile:1.4\n" +
		"FROM busybox:latest AS a\n" +
		"RUN --mount=type=cache,target=/c --mount=type=secret,id=tok true\n" +
		"RUN <<EOF\necho hi\nEOF\n" +
		"COPY --link x /x\n" +
		"RUN plain\n"
	got, err := ParseDockerfile([]byte(df), nil, "", "")
	require.NoError(t, err)
	assert.Equal(t, "docker/dockerfile:1.4", got.Syntax)
	assert.Equal(t, 1, got.SyntaxLine)
	var names []string
	for _, f := range got.Features {
		names = append(names, fmt.Sprintf("%d %s %s", f.Line, f.Name, f.MinEngine))
	}
	assert.Equal(t, []string{
		"3 RUN --mount=type=cache 20.10", "3 RUN --mount=type=secret 20.10", "4 heredoc 23.0", "7 COPY --link 23.0",
	}, names)
	assert.Equal(t, "RUN <<EOF", got.Features[2].Instruction)

	plain, err := ParseDockerfile([]byte("FROM busybox:latest\nRUN true\n"), nil, "", "")
	require.NoError(t, err)
	assert.Empty(t, plain.Features)
	assert.Empty(t, plain.Syntax)
}
