package mqtt

import (
	"context"
	"slices"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// DisconnectOptions is what DisconnectWith tells the server in its
// DISCONNECT (MQTT 5.0 section 3.14; MQTT.js end(opts)). The zero value is
// Disconnect's: a normal disconnection, which has the server discard the
// will.
type DisconnectOptions struct {
	// ReasonCode says why the client disconnects. 0: normal
	// disconnection. wire.DisconnectWithWill (0x04): the server
	// publishes the will all the same. The codes of errors a client may
	// send (MQTT-3.14.2-1): 0x80 unspecified error, 0x81, 0x82, 0x83
	// implementation specific error, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
	// 0x98 administrative action, 0x99; the server publishes the will
	// for them too. Others are refused.
	ReasonCode ReasonCode
	// SessionExpiry replaces, in whole seconds, how long the server keeps
	// the session after this connection (DialOptions.SessionExpiry). 0:
	// as CONNECT said. It needs KeepSession: a clean start is a session
	// expiry of 0, which DISCONNECT may not raise (MQTT 5.0 section
	// 3.14.2.2.2).
	SessionExpiry time.Duration
	// EndSession has the server discard the session now (a session
	// expiry of 0), though KeepSession kept it so far.
	EndSession bool
	// ReasonString and UserProperties go with the DISCONNECT. The packet
	// must fit the server's Maximum Packet Size (MQTT-3.14.2-3,
	// MQTT-3.14.2-4).
	ReasonString   string
	UserProperties []UserProperty
}

// DisconnectWith is Disconnect with a reason (MQTT 5.0): it waits for the
// QoS 1/2 messages in flight as Disconnect does, then sends a DISCONNECT
// that carries opts. nil opts is Disconnect. While the client is
// reconnecting, DisconnectWith waits for the connection, bounded by ctx,
// to say what opts says; when ctx ends first, it closes the client and
// returns an error wrapping ctx's: the server, which heard nothing,
// publishes the will and keeps the session as CONNECT said.
//
// Options that MQTT does not allow are refused before anything is done
// (ErrInvalid), and the client stays connected: any at all over MQTT 3.x,
// which has no reason codes or properties in DISCONNECT (Close, which sends
// no DISCONNECT, has the server publish the will), a reason code a client
// may not send, a SessionExpiry under a second or negative, or one without
// KeepSession, both SessionExpiry and EndSession, and a packet too large.
func (c *Client) DisconnectWith(ctx context.Context, opts *DisconnectOptions) error {
	if opts == nil {
		return c.Disconnect(ctx)
	}
	cn := c.cn.Load() // the latest connection's version and limits apply while offline
	pkt, err := c.disconnectPacket(cn, opts)
	if err != nil {
		return err
	}
	if c.current() == nil {
		if _, err := c.connection(ctx); err != nil {
			if c.Err() != nil {
				c.waitEnded()
				return c.Err()
			}
			c.end(ErrClosed)
			c.waitEnded()
			return wrapf(err, "disconnect: no connection to send the DISCONNECT (%v) on; the client is closed", opts.ReasonCode)
		}
	}
	return c.disconnect(ctx, pkt)
}

// clientDisconnects are the DISCONNECT reason codes a client may send
// (MQTT 5.0 section 3.14.2.1).
var clientDisconnects = map[ReasonCode]bool{
	wire.NormalDisconnection: true, wire.DisconnectWithWill: true, wire.UnspecifiedError: true,
	wire.MalformedPacket: true, wire.ProtocolError: true, wire.ImplementationSpecificError: true,
	wire.TopicNameInvalid: true, wire.ReceiveMaximumExceeded: true, wire.TopicAliasInvalid: true,
	wire.PacketTooLarge: true, wire.MessageRateTooHigh: true, wire.QuotaExceeded: true,
	wire.AdministrativeAction: true, wire.PayloadFormatInvalid: true,
}

// disconnectPacket checks opts against MQTT's rules and the connection's
// limits and builds the DISCONNECT.
func (c *Client) disconnectPacket(cn *connection, opts *DisconnectOptions) (*wire.Disconnect, error) {
	if cn.version != wire.V5 {
		return nil, invalidf("disconnect", "a reason code and properties need MQTT 5.0; the server speaks %v: "+
			"use Disconnect, or Close to have the server publish the will", cn.version)
	}
	switch d := opts.SessionExpiry; {
	case !clientDisconnects[opts.ReasonCode]:
		return nil, invalidf("disconnect", "reason code %#02x (%v) is not one a client may send (MQTT-3.14.2-1)", byte(opts.ReasonCode), opts.ReasonCode)
	case d < 0:
		return nil, invalidf("disconnect", "SessionExpiry %v is negative; use EndSession to end the session", d)
	case d > 0 && d < time.Second:
		return nil, invalidf("disconnect", "SessionExpiry %v is under a second, MQTT's unit: %s", d, secondsHint(d))
	case d > 0 && opts.EndSession:
		return nil, invalidf("disconnect", "SessionExpiry %v and EndSession contradict each other", d)
	case d > 0 && !c.opts.KeepSession:
		return nil, invalidf("disconnect", "SessionExpiry %v needs DialOptions.KeepSession: the session of a clean start "+
			"expires with its connection, and DISCONNECT may not change that (MQTT 5.0 section 3.14.2.2.2)", d)
	}
	pkt := &wire.Disconnect{ReasonCode: opts.ReasonCode}
	props := &wire.Properties{ReasonString: opts.ReasonString, UserProperties: slices.Clone(opts.UserProperties)}
	if opts.SessionExpiry > 0 || opts.EndSession {
		exp := seconds(opts.SessionExpiry, 0xFFFFFFFE)
		props.SessionExpiry = &exp
	}
	if props.ReasonString != "" || props.UserProperties != nil || props.SessionExpiry != nil {
		pkt.Properties = props
	}
	if err := checkSize(cn, pkt); err != nil {
		return nil, invalidf("disconnect", "%w", err)
	}
	return pkt, nil
}
