// Package volume creates named volumes that outlive a container and can be shared.
package volume

// A Volume is a named volume created by this package.
type Volume struct {
	name string
}

// Name is the volume's unique name.
func (v *Volume) Name() string { return v.name }
