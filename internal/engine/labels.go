package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"
)

// Label keys. Every resource the framework creates carries all of them.
const (
	LabelPrefix  = "org.containertest."
	LabelManaged = LabelPrefix + "managed"    // always "true"
	LabelSession = LabelPrefix + "session"    // the creating process's session id
	LabelHost    = LabelPrefix + "host"       // host name of the creating process
	LabelPID     = LabelPrefix + "pid"        // pid of the creating process
	LabelStart   = LabelPrefix + "proc-start" // start time of the creating process (see ProcStart)
	// LabelKeep marks a resource kept for debugging: no cleanup, watchdog or sweep removes it.
	LabelKeep = LabelPrefix + "keep"
	// LabelTest names the test that created the resource, when known.
	LabelTest = LabelPrefix + "test"
	// LabelSubnetPicked marks a network given a subnet by the framework, not by the
	// user, because the engine's default address pools were used up. The engine takes
	// it for a user-configured subnet; the framework does not (see containers.Spec.IP).
	LabelSubnetPicked = LabelPrefix + "subnet-picked"
)

var (
	sessionID = newSessionID()
	hostName  = func() string { h, _ := os.Hostname(); return h }()
	procStart = ProcStart(os.Getpid())
)

func newSessionID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("containertest: read random session id: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// SessionID is this process's session id: random, fixed for the life of the process.
func SessionID() string { return sessionID }

// Labels returns a new map with the framework's labels for this process.
func Labels() map[string]string {
	return map[string]string{
		LabelManaged: "true",
		LabelSession: sessionID,
		LabelHost:    hostName,
		LabelPID:     strconv.Itoa(os.Getpid()),
		LabelStart:   procStart,
	}
}

// WithLabels returns user labels merged under the framework's: a user label never
// overrides a framework label.
func WithLabels(user map[string]string) map[string]string {
	out := make(map[string]string, len(user)+6)
	maps.Copy(out, user)
	maps.Copy(out, Labels())
	return out
}

// SessionFilter is the label filter ("key=value") that selects this session's resources.
func SessionFilter() string { return LabelSession + "=" + sessionID }

// HostName is the host name recorded in LabelHost.
func HostName() string { return hostName }

// ProcStart returns an identifier of when process pid started, so that a reused pid is
// not mistaken for the original process. On Linux it is the start time in clock ticks
// since boot (field 22 of /proc/PID/stat); elsewhere, for this process only, the wall
// clock time at init; "" when unknown.
func ProcStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		s := string(b)
		// The command name (field 2) is in parentheses and may hold spaces.
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			// f[0] is field 3 (state); starttime is field 22.
			if len(f) > 19 {
				return f[19]
			}
		}
		return ""
	}
	if pid == os.Getpid() {
		return strconv.FormatInt(initTime.UnixNano(), 10)
	}
	return ""
}

var initTime = time.Now()

// ErrReservedLabel is wrapped by CheckLabel's errors.
var ErrReservedLabel = errors.New("invalid label")

// CheckLabel checks a user label key: not empty, and not in the framework's reserved
// namespace (LabelPrefix). Every package that takes user labels uses it.
func CheckLabel(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty label key", ErrReservedLabel)
	}
	if strings.HasPrefix(key, LabelPrefix) {
		return fmt.Errorf("%w: label %q: the prefix %q is reserved for the framework", ErrReservedLabel, key, LabelPrefix)
	}
	return nil
}
