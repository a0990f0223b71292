//go:build js

package mqtt

import (
	"context"
	"errors"
	"net"
)

// dialTransport has no transport to offer under GOOS=js yet.
func dialTransport(ctx context.Context, t *target, o *DialOptions) (net.Conn, error) {
	return nil, errors.New("mqtt: connecting to " + t.raw + ": no transport under GOOS=js")
}
