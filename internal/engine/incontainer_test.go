package engine

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	idA = "bc9695e80c344128ac842b242f4d86019af82972860c6569edb06fafd3764f4d"
	idB = "1d9c4915234b60615cba1024c698120882bfc0b6e9bfb1c36a0217d6b180f4d3"
)

func TestSelfContainerID(t *testing.T) {
	mount := func(root, point string) string {
		return "313 293 254:0 " + root + " " + point + " rw,relatime - ext4 /dev/vda rw\n"
	}
	tests := []struct {
		name               string
		mountinfo, cgroups string
		want               string
	}{
		{"docker bind mounts", mount("/", "/") + mount("/var/lib/docker/containers/"+idA+"/resolv.conf", "/etc/resolv.conf") +
			mount("/var/lib/docker/containers/"+idA+"/hostname", "/etc/hostname"), "", idA},
		{"rootless data root", mount("/home/u/.local/share/docker/containers/"+idA+"/hosts", "/etc/hosts"), "", idA},
		{"podman userdata", mount("/var/lib/containers/storage/overlay-containers/"+idA+"/userdata/hostname", "/etc/hostname"), "", idA},
		{
			// On an engine's host, other containers' layers show in mountinfo: only the
			// mounts at /etc/hostname, hosts and resolv.conf count.
			"other containers' mounts ignored",
			mount("/var/lib/docker/overlay2/"+idB+"/merged", "/var/lib/docker/overlay2/"+idB+"/merged") + mount("/", "/etc/hostname"),
			"0::/\n", "",
		},
		{"cgroup v1", "", "12:pids:/docker/" + idA + "\n0::/\n", idA},
		{"cgroup systemd scope", "", "0::/system.slice/docker-" + idA + ".scope\n", idA},
		{"nothing", "", "0::/\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, selfContainerID([]byte(tt.mountinfo), []byte(tt.cgroups)))
		})
	}
}

func TestPublishAddr(t *testing.T) {
	h, err := publishAddr(containerView{ID: idA, NetworkMode: "host", Gateways: map[string]string{"host": ""}})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", h, "the host's network: its loopback address")

	h, err = publishAddr(containerView{ID: idA, NetworkMode: "ci", Gateways: map[string]string{"zeta": "10.9.0.1", "ci": "192.168.16.1"}})
	require.NoError(t, err)
	assert.Equal(t, "192.168.16.1", h, "the first network by name")

	h, err = publishAddr(containerView{ID: idA, NetworkMode: "default", Gateways: map[string]string{"ci": "192.168.16.1", "bridge": "172.17.0.1"}})
	require.NoError(t, err)
	assert.Equal(t, "172.17.0.1", h, "the default bridge first")

	_, err = publishAddr(containerView{ID: idA, NetworkMode: "none", Gateways: map[string]string{"none": ""}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `container bc9695e80c34 (network mode "none") is on no network with a gateway`)
	assert.Contains(t, err.Error(), "CONTAINERTEST_HOST")
}

func TestCheckReach(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:9")
	if err == nil {
		defer l.Close()
	}
	// 127.0.0.1 answers port 9 either way: accepted (listening above) or refused.
	require.NoError(t, checkReach(t.Context(), "127.0.0.1"))
}
