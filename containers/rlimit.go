package containers

import (
	"fmt"
	"regexp"
)

// rlimitFailure matches runc's refusal to set a resource limit, as the engine passes
// it on: "error setting rlimit type 6: operation not permitted".
var rlimitFailure = regexp.MustCompile(`error setting rlimit type (\d+): operation not permitted`)

// rlimitNames are the Linux resource numbers runc's error gives, by ulimit name.
var rlimitNames = map[string]string{
	"0": "cpu", "1": "fsize", "2": "data", "3": "stack", "4": "core", "5": "rss",
	"6": "nproc", "7": "nofile", "8": "memlock", "9": "as", "10": "locks",
	"11": "sigpending", "12": "msgqueue", "13": "nice", "14": "rtprio", "15": "rttime",
}

// explainStartError adds, to an engine's refusal to start a container, what a
// message from deep inside the runtime leaves out. Podman applies the
// default_ulimits of containers.conf only to a container that sets no ulimits, so one
// that sets some gets podman's built-in value (1048576) for the others, more than a
// host without CAP_SYS_RESOURCE can grant.
func explainStartError(err error) error {
	m := rlimitFailure.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	name, ok := rlimitNames[m[1]]
	if !ok {
		name = "type " + m[1]
	}
	return fmt.Errorf("%w (the runtime could not set the %s limit above the engine's own hard limit: set it in the spec, Ulimit(%q, soft, hard), or raise the engine's limits; podman applies containers.conf's default_ulimits only to containers that set no ulimit)", err, name, name)
}
