package containers

import (
	"errors"
	"strings"
	"testing"
)

func TestExplainStartError(t *testing.T) {
	runc := errors.New(`Error response from daemon: runc: runc create failed: unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 6: operation not permitted: OCI permission denied`)
	got := explainStartError(runc)
	if !errors.Is(got, runc) {
		t.Errorf("the engine's error is not wrapped: %v", got)
	}
	for _, want := range []string{`Ulimit("nproc"`, "nproc limit", "default_ulimits"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("%q missing from %v", want, got)
		}
	}
	if got := explainStartError(errors.New(`error setting rlimit type 42: operation not permitted`)); !strings.Contains(got.Error(), "type 42 limit") {
		t.Errorf("unknown resource: %v", got)
	}
	other := errors.New("Error response from daemon: no such image")
	if got := explainStartError(other); got != other {
		t.Errorf("an unrelated error was changed: %v", got)
	}
}
