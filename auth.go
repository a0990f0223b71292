package mqtt

// This file holds MQTT 5.0 enhanced authentication (section 4.12): the
// exchange of AUTH packets between CONNECT and CONNACK, and re-authentication
// on a running connection.
//
//	CONNECT (method, Start's data) ->
//	                               <- AUTH 0x18 (challenge)
//	AUTH 0x18 (Continue's answer)  ->
//	          ... as many rounds as the method needs ...
//	                               <- CONNACK success (Finish checks its data)
//
// Re-authentication is the same exchange, opened by AUTH 0x19 and closed by
// the server's AUTH 0x00.

import (
	"context"
	"errors"
	"fmt"

	"github.com/culex-mqtt/mqtt/wire"
)

// Authenticator carries out one enhanced authentication method, such as
// SCRAM or Kerberos, at every connection and on Reauthenticate. Its calls
// for one exchange come one after the other, never concurrently.
type Authenticator interface {
	// Method is the Authentication Method, such as "SCRAM-SHA-256".
	Method() string
	// Start returns the Authentication Data of the packet that opens an
	// exchange: CONNECT, or the AUTH of a re-authentication. nil: none.
	Start(ctx context.Context) ([]byte, error)
	// Continue answers the server's challenge, the data of its AUTH
	// packet, with the data of the client's AUTH.
	Continue(ctx context.Context, challenge []byte) ([]byte, error)
	// Finish checks the data the server sent with its success, for
	// methods that authenticate the server too. An error closes the
	// connection.
	Finish(ctx context.Context, data []byte) error
}

// authData returns the Authentication Data of p, nil when it has none.
func authData(p *wire.Properties) []byte {
	if p == nil {
		return nil
	}
	return p.AuthData
}

// answerChallenge answers the server's AUTH during an exchange: the next
// AUTH to send, or an error that ends the exchange.
func answerChallenge(ctx context.Context, a Authenticator, p *wire.Auth) (*wire.Auth, error) {
	if p.ReasonCode != wire.ContinueAuthentication {
		return nil, fmt.Errorf("the server sent AUTH %v during authentication", p.ReasonCode)
	}
	if err := sameMethod(a, p); err != nil {
		return nil, err
	}
	data, err := a.Continue(ctx, p.Properties.AuthData)
	if err != nil {
		return nil, fmt.Errorf("authentication method %s: %w", a.Method(), err)
	}
	return &wire.Auth{ReasonCode: wire.ContinueAuthentication,
		Properties: &wire.Properties{AuthMethod: a.Method(), AuthData: data}}, nil
}

// sameMethod refuses a server AUTH that does not name the method of the
// exchange (MQTT-4.12.0-5).
func sameMethod(a Authenticator, p *wire.Auth) error {
	if p.Properties == nil || p.Properties.AuthMethod != a.Method() {
		return errors.New("the server's AUTH names another authentication method")
	}
	return nil
}

// Reauthenticate authenticates again on the current connection with
// DialOptions.Auth (MQTT 5.0 section 4.12.1), for instance when a token is
// about to expire, and returns once the server has accepted. A server that
// refuses closes the connection with DISCONNECT, and the error says why;
// the client then reconnects, authenticating anew. So it does when the
// exchange fails on its side: the method refuses the server's data or cannot
// answer it, or the server's AUTH breaks the protocol (another method, say).
func (c *Client) Reauthenticate(ctx context.Context) error {
	a := c.opts.Auth
	if a == nil {
		return invalidf("reauthenticate", "DialOptions.Auth is not set")
	}
	cn, err := c.connection(ctx)
	if err != nil {
		return wrapf(err, "reauthenticate")
	}
	if cn.version != wire.V5 {
		return invalidf("reauthenticate", "it needs MQTT 5.0; the server speaks %v", cn.version)
	}
	cn.startReader() // for the server's AUTH
	c.authMu.Lock()  // one exchange at a time (MQTT-4.12.1-2: no other AUTH meanwhile)
	defer c.authMu.Unlock()
	data, err := a.Start(ctx)
	if err != nil {
		return wrapf(err, "reauthenticate: authentication method %s", a.Method())
	}
	ch := make(chan *wire.Auth, 1)
	cn.authMu.Lock()
	cn.auth = ch
	cn.authMu.Unlock()
	defer func() { cn.authMu.Lock(); cn.auth = nil; cn.authMu.Unlock() }()
	next := &wire.Auth{ReasonCode: wire.ReAuthenticate,
		Properties: &wire.Properties{AuthMethod: a.Method(), AuthData: data}}
	for {
		if err := cn.w.send(next); err != nil {
			select {
			case <-cn.dead:
				err = cn.cause
			default:
			}
			return wrapf(err, "reauthenticate")
		}
		var p *wire.Auth
		select {
		case p = <-ch:
		case <-cn.dead:
			return wrapf(cn.cause, "reauthenticate")
		case <-ctx.Done():
			return wrapf(ctx.Err(), "reauthenticate")
		}
		// A re-authentication that fails closes the connection
		// (MQTT-4.12.1-2), as one the server ends does.
		if err := sameMethod(a, p); err != nil {
			cn.protocolViolation(err)
			return wrapf(err, "reauthenticate")
		}
		if p.ReasonCode == wire.Success {
			if err := a.Finish(ctx, authData(p.Properties)); err != nil {
				cn.w.sendLast(&wire.Disconnect{ReasonCode: wire.NotAuthorized})
				cn.fail(fmt.Errorf("authentication method %s: the server failed: %w", a.Method(), err))
				return wrapf(err, "reauthenticate")
			}
			return nil
		}
		if next, err = answerChallenge(ctx, a, p); err != nil {
			code := wire.UnspecifiedError // the method could not answer
			if p.ReasonCode != wire.ContinueAuthentication {
				code = wire.ProtocolError
			}
			cn.w.sendLast(&wire.Disconnect{ReasonCode: code})
			cn.fail(err)
			return wrapf(err, "reauthenticate")
		}
	}
}

// receiveAuth hands an AUTH from the server to the re-authentication that
// waits for it. An AUTH nobody asked for breaks the protocol.
func (cn *connection) receiveAuth(p *wire.Auth) error {
	cn.authMu.Lock()
	ch := cn.auth
	cn.authMu.Unlock()
	if ch == nil {
		return errors.New("the server sent AUTH outside an authentication exchange")
	}
	select {
	case ch <- p:
		return nil
	default:
		return errors.New("the server sent AUTH twice without an answer")
	}
}
