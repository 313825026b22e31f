package containers

import "github.com/containertest/containertest/internal/engine"

// WithoutHostGateway makes HostAccess act as on an engine without "host-gateway"
// until restore is called.
func WithoutHostGateway() (restore func()) {
	old := engineHasHostGateway
	engineHasHostGateway = func(*engine.Engine) bool { return false }
	return func() { engineHasHostGateway = old }
}
