package containers_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// argvImage is a build of an image whose ENTRYPOINT prints its arguments (after the
// first, "ep0") and whose CMD is ["image-cmd"].
func argvImage(t *testing.T) containers.Spec {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(`FROM busybox:latest
ENTRYPOINT ["sh", "-c", "echo \"argv: $0 $*\"; exec sleep 3600", "ep0"]
CMD ["image-cmd"]
`), 0o644))
	return containers.Build(dir)
}

// printArgv is the entrypoint of argvImage, spelled for Entrypoint, with first as $0.
func printArgv(first string) []string {
	return []string{"sh", "-c", `echo "argv: $0 $*"; exec sleep 3600`, first}
}

// argv starts spec and returns the arguments its entrypoint printed.
func argv(t *testing.T, spec containers.Spec) string {
	t.Helper()
	var got string
	spec.WaitFor(wait.ForLogRegexp(`^argv: (.*)$`).OnMatch(func(m []string) error {
		got = m[1]
		return nil
	})).KillOnTeardown().Start(t)
	return got
}

func TestCmdArgsAndEntrypointArgs(t *testing.T) {
	containers.RequireDocker(t)
	t.Parallel()
	img := argvImage(t)
	for _, tc := range []struct {
		name string
		spec containers.Spec
		want string
	}{
		{"image as is", img, "ep0 image-cmd"},
		{"CmdArgs append to the image's CMD", img.CmdArgs("a", "b").CmdArgs("c"), "ep0 image-cmd a b c"},
		{"CmdArgs append to Cmd", img.Cmd("x").CmdArgs("a"), "ep0 x a"},
		{"CmdArgs append to Cmd given later", img.CmdArgs("a").Cmd("x"), "ep0 x a"},
		{"Cmd alone replaces", img.Cmd("x", "y"), "ep0 x y"},
		{"EntrypointArgs keep the image's CMD", img.EntrypointArgs("e1", "e2"), "ep0 e1 e2 image-cmd"},
		{"EntrypointArgs with Cmd", img.EntrypointArgs("e1").Cmd("c"), "ep0 e1 c"},
		{"EntrypointArgs and CmdArgs", img.CmdArgs("a").EntrypointArgs("e1"), "ep0 e1 image-cmd a"},
		{"EntrypointArgs append to Entrypoint", img.Entrypoint(printArgv("mine")...).EntrypointArgs("e1"), "mine e1"},
		{"CmdArgs after Entrypoint have no image CMD", img.Entrypoint(printArgv("mine")...).CmdArgs("a"), "mine a"},
		{"EntrypointArgs after a cleared entrypoint", img.Entrypoint().EntrypointArgs(printArgv("own")...).Cmd("z"), "own z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, argv(t, tc.spec))
		})
	}
}

func TestArgsOnAnImageWithoutEntrypoint(t *testing.T) {
	containers.RequireDocker(t)
	t.Parallel()
	bb := containers.Image(busybox) // CMD ["sh"], no ENTRYPOINT
	// sh -c SCRIPT: the image's CMD with arguments.
	assert.Equal(t, "sh", argv(t, bb.CmdArgs("-c", `echo "argv: $0"; exec sleep 3600`)))
	// Arguments become the entrypoint; the image's CMD ("sh") follows as $0.
	assert.Equal(t, "sh ", argv(t, bb.EntrypointArgs("sh", "-c", `echo "argv: $0 $*"; exec sleep 3600`)))
}

func TestArgsNeedTheImage(t *testing.T) {
	containers.RequireDocker(t)
	_, err := containers.Image("containertest/no-such-image:1").Pull(containers.PullNever).CmdArgs("x").Run(t.Context())
	require.ErrorIs(t, err, containers.ErrImageNotFound)
	assert.Contains(t, err.Error(), `cmd args ["x"]`)
	_, err = containers.Image("containertest/no-such-image:1").Pull(containers.PullNever).EntrypointArgs("y").Run(t.Context())
	require.ErrorIs(t, err, containers.ErrImageNotFound)
	assert.Contains(t, err.Error(), `entrypoint args ["y"]`)
}
