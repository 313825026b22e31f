package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	testcontainers "github.com/testcontainers/testcontainers-go"
	tcwait "github.com/testcontainers/testcontainers-go/wait"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// slowContext is the build context of BenchmarkBuildStart: FROM busybox, RUN sleep 3,
// then CMD an httpd on port 8080.
const slowContext = "testdata/slowbuild"

// BenchmarkBuildStart measures the repeated start of a Dockerfile-built image whose
// context does not change, until the container is ready; teardown is not measured.
// Ours builds through its content-addressed cache; raw built the image once before
// and only creates and starts; testcontainers-go builds with FromDockerfile every time
// (its Terminate removes the image it built); tc-keep is testcontainers-go with
// KeepImage, its fairest configuration. Each implementation passes its own
// BENCH_IMPL build arg, so that none profits from layers another built. Ours-http is
// ours with wait.ForHTTP, as in BenchmarkStart.
func BenchmarkBuildStart(b *testing.B) {
	cli := dockerClient(b)
	rawImage, err := rawBuildOnce(b.Context(), cli)
	if err != nil {
		b.Fatal(err)
	}
	tcImpl := "tc"
	compare(b, true,
		impl{name: "ours", run: func(ctx context.Context) (time.Duration, error) {
			var c *containers.Container
			d, err := timed(func() (err error) {
				c, err = containers.Build(slowContext).BuildArg("BENCH_IMPL", "ours").
					Expose(httpPort).WaitFor(wait.ForPort(httpPort)).Run(ctx)
				return err
			})
			if err != nil {
				return 0, err
			}
			return d, c.Terminate(context.WithoutCancel(ctx))
		}},
		impl{name: "ours-http", run: func(ctx context.Context) (time.Duration, error) {
			var c *containers.Container
			d, err := timed(func() (err error) {
				c, err = containers.Build(slowContext).BuildArg("BENCH_IMPL", "ours").
					Expose(httpPort).WaitFor(anyHTTPAnswer()).Run(ctx)
				return err
			})
			if err != nil {
				return 0, err
			}
			return d, c.Terminate(context.WithoutCancel(ctx))
		}},
		impl{name: "raw", run: func(ctx context.Context) (time.Duration, error) {
			var id string
			d, err := timed(func() error {
				var addr string
				var err error
				id, addr, err = rawCreateStart(ctx, cli, rawImage, nil, httpPort)
				if err != nil {
					return err
				}
				return rawHTTPReady(ctx, addr)
			})
			if id != "" {
				err = errJoin(err, rawRemove(context.WithoutCancel(ctx), cli, id))
			}
			return d, err
		}},
		impl{name: "tc", run: func(ctx context.Context) (time.Duration, error) {
			req := tcRequest("", nil, httpPort, tcwait.ForListeningPort(httpPort))
			req.FromDockerfile = testcontainers.FromDockerfile{
				Context:    slowContext,
				Dockerfile: "Dockerfile",
				BuildArgs:  map[string]*string{"BENCH_IMPL": &tcImpl},
			}
			var c testcontainers.Container
			d, err := timed(func() (err error) {
				c, err = testcontainers.GenericContainer(ctx, req)
				return err
			})
			return d, errJoin(err, tcRemove(c))
		}},
		// testcontainers-go in its fairest configuration: KeepImage leaves the built
		// image (and so its layers) behind at Terminate, and the engine's layer cache
		// then serves every rebuild of the unchanged context. It still sends the
		// context and asks the engine to build each time.
		impl{name: "tc-keep", run: func(ctx context.Context) (time.Duration, error) {
			req := tcRequest("", nil, httpPort, tcwait.ForListeningPort(httpPort))
			req.FromDockerfile = testcontainers.FromDockerfile{
				Context:    slowContext,
				Dockerfile: "Dockerfile",
				BuildArgs:  map[string]*string{"BENCH_IMPL": &tcKeepImpl},
				Repo:       tcKeepRepo,
				Tag:        tcKeepTag,
				KeepImage:  true,
			}
			var c testcontainers.Container
			d, err := timed(func() (err error) {
				c, err = testcontainers.GenericContainer(ctx, req)
				return err
			})
			return d, errJoin(err, tcRemove(c))
		}},
	)
}

// The image testcontainers-go keeps with KeepImage, removed by TestMain.
var (
	tcKeepImpl = "tc-keep"
	tcKeepRepo = "containertest-bench/slowbuild"
	tcKeepTag  = "tc-keep-" + session
)

func init() {
	cleanups = append(cleanups, func(ctx context.Context, cli *client.Client) {
		_, _ = cli.ImageRemove(ctx, tcKeepRepo+":"+tcKeepTag, image.RemoveOptions{PruneChildren: true})
	})
}

var (
	rawBuild     sync.Once
	rawBuildRef  string
	rawBuildErr  error
	rawBuildsTag = "containertest-bench/slowbuild:raw-" + session
)

// rawBuildOnce builds slowContext with the raw API, once per process, and returns the
// image; TestMain removes it.
func rawBuildOnce(ctx context.Context, cli *client.Client) (string, error) {
	rawBuild.Do(func() {
		rawBuildErr = rawImageBuild(ctx, cli, slowContext, rawBuildsTag, map[string]*string{"BENCH_IMPL": ptr("raw")})
		rawBuildRef = rawBuildsTag
		cleanups = append(cleanups, func(ctx context.Context, cli *client.Client) {
			_, _ = cli.ImageRemove(ctx, rawBuildsTag, image.RemoveOptions{PruneChildren: true})
		})
	})
	return rawBuildRef, rawBuildErr
}

func ptr[T any](v T) *T { return &v }

// rawImageBuild sends dir as the build context and builds tag with the classic
// builder.
func rawImageBuild(ctx context.Context, cli *client.Client, dir, tag string, args map[string]*string) error {
	return rawImageBuildWith(ctx, cli, dir, tag, args, build.BuilderV1)
}

// rawImageBuildWith is rawImageBuild with the builder version: build.BuilderBuildKit
// builds through the engine's BuildKit (the context as a plain tar body, no session).
func rawImageBuildWith(ctx context.Context, cli *client.Client, dir, tag string, args map[string]*string, version build.BuilderVersion) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(body))}); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return fmt.Errorf("build %s: tar context: %w", dir, err)
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags:        []string{tag},
		BuildArgs:   args,
		Labels:      benchLabels(),
		Remove:      true,
		ForceRemove: true,
		Version:     version,
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", dir, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("build %s: read output: %w", dir, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("build %s: %s", dir, msg.Error)
		}
	}
}
