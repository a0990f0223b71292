package mqtt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/culex-mqtt/mqtt/wire"
)

// ReasonCode is an MQTT 5.0 reason code; the constants are in package wire
// (wire.NotAuthorized, wire.QuotaExceeded, ...). MQTT 3.x return codes are
// mapped onto the code of the same meaning.
type ReasonCode = wire.ReasonCode

var (
	// ErrClosed is returned by calls on a Client that was closed, and by
	// calls that were waiting when it closed.
	ErrClosed = errors.New("mqtt: client is closed")

	// ErrNotSent is matched by the error of every call that failed
	// before its packet was sent: the server never saw it, and calling
	// again cannot make a duplicate. The cause is wrapped too: an invalid
	// argument (ErrInvalid), the call's ctx that ended first, a client
	// that is closed (ErrClosed) or offline (ErrNotConnected), a Store
	// that could not keep the message.
	ErrNotSent = errors.New("mqtt: not sent")

	// ErrInvalid is matched by the error of a call whose arguments break
	// MQTT's rules or the server's limits (an invalid topic, QoS 3, a
	// message too large: ErrPacketTooLarge), refused before anything was
	// sent (so it matches ErrNotSent too), and by the error of a Dial
	// whose URL or options cannot work. Calling again with the same
	// arguments fails the same way.
	ErrInvalid = errors.New("mqtt: invalid argument")

	// ErrNotConnected is returned by a QoS 0 Publish made while the client
	// is reconnecting when DialOptions.OfflineQueue is negative; nothing
	// was sent.
	ErrNotConnected = errors.New("mqtt: not connected; the client is reconnecting")

	// ErrPacketTooLarge is matched when a packet would exceed the maximum
	// packet size the server accepts, or MQTT's own limit of 256 MiB when
	// the server set none; nothing was sent. It is wire.ErrPacketTooLarge:
	// one value for every path that finds a packet too large.
	ErrPacketTooLarge = wire.ErrPacketTooLarge

	// ErrOutcomeUnknown is matched by the error of a Publish whose PUBLISH
	// was sent but whose acknowledgement never came: its ctx ended first,
	// or the client closed (and so for Subscribe and Unsubscribe). The server may or may not have the message,
	// and sending it again may deliver it twice. The error says whether
	// delivery goes on in the background (the client runs: the message
	// stays in the Store until it is acknowledged). An error from Publish
	// that does not match ErrOutcomeUnknown or *ReasonError means the
	// message was not sent (ErrNotSent).
	ErrOutcomeUnknown = errors.New("mqtt: the message was sent, but its acknowledgement did not come")
)

// ConnectError is a CONNACK that refused the connection.
type ConnectError struct {
	Server       string     // the URL that refused, without user info or query
	ReasonCode   ReasonCode // why; 3.x return codes are mapped onto 5.0 codes
	ReasonString string     // v5: the server's explanation, if any
	// ServerReference is another server to use, if the server named one
	// (v5, with reason codes such as UseAnotherServer and ServerMoved).
	ServerReference string
}

// Error says who refused, why, the server it referred to, and what to try.
func (e *ConnectError) Error() string {
	s := fmt.Sprintf("mqtt: %s refused the connection: %v (reason code %#02x)", e.Server, e.ReasonCode, byte(e.ReasonCode))
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	if e.ServerReference != "" {
		s += "; it refers to " + e.ServerReference
	}
	switch e.ReasonCode {
	case wire.BadUsernameOrPassword, wire.NotAuthorized:
		s += "; check the user name and password"
	case wire.ClientIdentifierNotValid:
		s += "; choose another client ID"
	case wire.UnsupportedProtocolVersion:
		s += "; set DialOptions.Version to one the server speaks"
	}
	return s
}

// ReasonError is an acknowledgement (PUBACK, PUBREC, SUBACK, UNSUBACK) that
// reported a failure with a reason code of 0x80 or above.
type ReasonError struct {
	Op           string // "publish", "subscribe" or "unsubscribe"
	Topic        string // the topic or filter concerned
	ReasonCode   ReasonCode
	ReasonString string
}

// Error names the operation, the topic and the server's reason.
func (e *ReasonError) Error() string {
	s := fmt.Sprintf("mqtt: %s %q refused by the server: %v (reason code %#02x)", e.Op, e.Topic, e.ReasonCode, byte(e.ReasonCode))
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	return s
}

// DisconnectError is a DISCONNECT packet the server sent before it closed
// the connection (MQTT 5.0).
type DisconnectError struct {
	ReasonCode      ReasonCode
	ReasonString    string
	ServerReference string // another server to use, if the server named one
}

// Error gives the server's reason and the server it referred to, if any.
func (e *DisconnectError) Error() string {
	s := fmt.Sprintf("mqtt: the server disconnected: %v (reason code %#02x)", e.ReasonCode, byte(e.ReasonCode))
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	if e.ServerReference != "" {
		s += "; it refers to " + e.ServerReference
	}
	return s
}

// storeError is a failure of the session Store while the client runs. It
// ends the client: without the Store's record a message could be lost, or
// delivered twice, so going on would break the promise the Store keeps.
// Reconnecting would not help either: the next connection needs the Store
// at once (to resume, to record acknowledgements) and fails the same way.
type storeError struct {
	doing string // what the client was doing, "removing acknowledged messages"
	err   error
}

func (e *storeError) Error() string {
	return "mqtt: the session store failed " + e.doing + ": " + e.err.Error() +
		"; the client stopped, and what it had not finished stays in the store for a new client to complete"
}

func (e *storeError) Unwrap() error { return e.err }

// closedBy is why a client ended by itself: "mqtt: client is closed: ",
// what happened and its cause. It matches ErrClosed and the cause.
func closedBy(what string, cause error) error {
	if what != "" {
		what = ": " + what
	}
	return &opError{what: "client is closed" + what, err: cause, is: []error{ErrClosed}}
}

// opError is the error of an operation: it reads "mqtt: " + what + ": " +
// err's message, without a second "mqtt: ", and matches err and each error
// in is (errors.Is, errors.As).
type opError struct {
	what string
	err  error
	is   []error
}

func (e *opError) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), "mqtt: ")
	if e.what == "" {
		return "mqtt: " + msg
	}
	return "mqtt: " + e.what + ": " + msg
}

func (e *opError) Unwrap() []error { return append([]error{e.err}, e.is...) }

// wrapf wraps err in the error of an operation, what formatted with args.
func wrapf(err error, what string, args ...any) error {
	return &opError{what: fmt.Sprintf(what, args...), err: err}
}

// notSent wraps err from a call whose packet never reached the connection.
func notSent(op string, err error) error {
	return &opError{what: op + " not sent", err: err, is: []error{ErrNotSent}}
}

// invalidf is the error of a call whose arguments break MQTT's rules or the
// server's limits, formatted like fmt.Errorf: it matches ErrInvalid and
// ErrNotSent.
func invalidf(op, format string, args ...any) error {
	return &opError{what: op + " not sent", err: fmt.Errorf(format, args...), is: []error{ErrInvalid, ErrNotSent}}
}

// badOptionf is the error of a Dial whose URL or options cannot work,
// formatted like fmt.Errorf without the "mqtt: ": it matches ErrInvalid.
func badOptionf(format string, args ...any) error {
	return &opError{err: fmt.Errorf(format, args...), is: []error{ErrInvalid}}
}
