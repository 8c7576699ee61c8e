//go:build !linux

package capture

import "context"

// Live is a live capture; only Linux has one (see live_linux.go).
type Live struct{}

// OpenLive returns ErrLiveUnsupported: live capture needs Linux's AF_PACKET.
func OpenLive(o LiveOptions) (*Live, error) { return nil, ErrLiveUnsupported }

// Interfaces returns nil: there is no live capture on this system.
func (l *Live) Interfaces() []LiveInterface { return nil }

// Stats returns nil: there is no live capture on this system.
func (l *Live) Stats() []InterfaceStats { return nil }

// Run returns ErrLiveUnsupported.
func (l *Live) Run(ctx context.Context, o Options, emit func(*Flow)) error {
	return ErrLiveUnsupported
}

// Close does nothing.
func (l *Live) Close() error { return nil }
