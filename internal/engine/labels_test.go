package engine

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLabels(t *testing.T) {
	l := Labels()
	assert.Equal(t, "true", l[LabelManaged])
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{16}$`), l[LabelSession])
	assert.Equal(t, SessionID(), l[LabelSession])
	assert.Equal(t, HostName(), l[LabelHost])
	assert.Equal(t, strconv.Itoa(os.Getpid()), l[LabelPID])
	assert.NotEmpty(t, l[LabelStart])
	assert.Equal(t, ProcStart(os.Getpid()), l[LabelStart])
	for k := range l {
		assert.Regexp(t, `^org\.containertest\.`, k, "one namespace")
	}

	l[LabelManaged] = "changed"
	assert.Equal(t, "true", Labels()[LabelManaged], "each call returns a new map")
	assert.Equal(t, LabelSession+"="+SessionID(), SessionFilter())
}

func TestWithLabels(t *testing.T) {
	user := map[string]string{
		"app":        "db",
		LabelSession: "forged",
		LabelManaged: "false",
	}
	got := WithLabels(user)
	assert.Equal(t, "db", got["app"])
	assert.Equal(t, SessionID(), got[LabelSession], "a user label never overrides a framework label")
	assert.Equal(t, "true", got[LabelManaged])
	assert.Equal(t, "forged", user[LabelSession], "the user's map is not modified")
	assert.Len(t, WithLabels(nil), len(Labels()))
}

func TestProcStart(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	self := ProcStart(os.Getpid())
	require.Regexp(t, `^[0-9]+$`, self)
	assert.Equal(t, self, ProcStart(os.Getpid()), "stable for a living process")

	// A child started later has a start time that is not earlier.
	cmd := exec.Command("sleep", "5")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	child := ProcStart(cmd.Process.Pid)
	require.Regexp(t, `^[0-9]+$`, child)
	a, _ := strconv.ParseUint(self, 10, 64)
	b, _ := strconv.ParseUint(child, 10, 64)
	assert.GreaterOrEqual(t, b, a)

	// A process that does not exist has no start time.
	cmd.Process.Kill()
	cmd.Wait()
	assert.Empty(t, ProcStart(cmd.Process.Pid))
}
