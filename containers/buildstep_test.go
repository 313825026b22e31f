package containers

import "testing"

// TestBuildStep reads the step lines of both builders the engine API may stand for:
// Docker's classic builder ("Step 3/7 : RUN make") and podman's buildah ("STEP 3/7: RUN
// make"), so that a failed build names its step on either.
func TestBuildStep(t *testing.T) {
	tests := []struct {
		line, want string
		ok         bool
	}{
		{"Step 3/7 : RUN make", "step 3/7: RUN make", true},
		{"Step 1/2 : FROM busybox:latest", "step 1/2: FROM busybox:latest", true},
		{"STEP 3/7: RUN make", "step 3/7: RUN make", true},
		{"STEP 2/2: RUN for i in $(seq 1 3); do echo a : b; done", "step 2/2: RUN for i in $(seq 1 3); do echo a : b; done", true},
		{" ---> Running in 3f2a", "", false},
		{"Steps are fine", "", false},
		{"STEP", "", false},
	}
	for _, tt := range tests {
		got, ok := buildStep(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("buildStep(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}
