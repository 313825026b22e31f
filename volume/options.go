package volume

import (
	"fmt"
	"strings"

	"github.com/containertest/containertest/internal/engine"
)

// An Option configures a volume made by New or Create.
type Option func(*config)

type config struct {
	driver     string
	labels     map[string]string
	driverOpts map[string]string
	// err is the first malformed option; Create reports it.
	err error
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Label adds a label to the volume. The framework's own labels (prefix
// "org.containertest.") are always present and cannot be set.
func Label(key, value string) Option {
	return func(c *config) {
		if err := engine.CheckLabel(key); err != nil {
			c.fail(fmt.Errorf("%w: %w", ErrInvalidOption, err))
			return
		}
		if c.labels == nil {
			c.labels = map[string]string{}
		}
		c.labels[key] = value
	}
}

// Driver chooses the volume driver; the default is the engine's "local" driver.
func Driver(name string) Option {
	return func(c *config) {
		if strings.TrimSpace(name) == "" {
			c.fail(fmt.Errorf("%w: empty driver name", ErrInvalidOption))
			return
		}
		c.driver = name
	}
}

// DriverOpt passes a driver-specific option. With the local driver,
//
//	volume.DriverOpt("type", "tmpfs"), volume.DriverOpt("device", "tmpfs"), volume.DriverOpt("o", "size=64m")
//
// makes a volume held in memory.
func DriverOpt(key, value string) Option {
	return func(c *config) {
		if key == "" {
			c.fail(fmt.Errorf("%w: empty driver option key", ErrInvalidOption))
			return
		}
		if c.driverOpts == nil {
			c.driverOpts = map[string]string{}
		}
		c.driverOpts[key] = value
	}
}
