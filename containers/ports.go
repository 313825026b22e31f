package containers

import (
	"fmt"
	"strconv"
	"strings"
)

// normalizePort turns "8080" into "8080/tcp" and checks number and protocol.
func normalizePort(p string) (string, error) {
	num, proto, found := strings.Cut(strings.TrimSpace(p), "/")
	if !found {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid port %q: want a number from 1 to 65535, optionally followed by /tcp, /udp or /sctp", p)
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return "", fmt.Errorf("invalid port %q: unknown protocol %q (want tcp, udp or sctp)", p, proto)
	}
	return strconv.Itoa(n) + "/" + proto, nil
}
