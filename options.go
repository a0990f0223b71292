package mqtt

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// QoS is an MQTT quality of service level.
type QoS byte

// The three QoS levels.
const (
	QoS0 QoS = 0 // at most once
	QoS1 QoS = 1 // at least once
	QoS2 QoS = 2 // exactly once
)

// String returns "QoS 0", "QoS 1" or "QoS 2".
func (q QoS) String() string { return "QoS " + string('0'+rune(q)) }

// Version is an MQTT protocol version.
type Version byte

// The protocol versions culex speaks.
const (
	V31  Version = 3 // MQTT 3.1 (protocol name "MQIsdp")
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// String returns the version as people write it ("3.1.1").
func (v Version) String() string { return wire.Version(v).String() }

// UserProperty is an MQTT 5.0 user property: a name/value pair; names may
// repeat.
type UserProperty = wire.UserProperty

// PayloadFormat is a message's Payload Format Indicator (MQTT 5.0): what
// its payload is.
type PayloadFormat byte

// The payload formats. A server may check that a PayloadUTF8 payload is
// valid UTF-8, and refuse it with 0x99 when it is not.
const (
	PayloadBytes PayloadFormat = 0 // unspecified bytes: the default
	PayloadUTF8  PayloadFormat = 1 // UTF-8 text
)

// Message is an application message, published or received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     QoS
	Retain  bool

	// MQTT 5.0 properties. Publish refuses a message that has any on a
	// 3.x connection, before sending it, rather than drop them silently.
	PayloadFormat   PayloadFormat // PayloadUTF8: the payload is UTF-8 text
	MessageExpiry   time.Duration // 0: never expires; whole seconds (rounded; under one: an error); negative: an error
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  []UserProperty

	// Received only.
	SubscriptionIDs []int // the identifiers of the subscriptions it matched (v5; Subscription.ID)
	Duplicate       bool  // the broker may have sent it before (DUP flag)
}

// DialOptions configures Dial. A nil *DialOptions or its zero value gives the
// defaults written next to each field. Dial never modifies the caller's
// struct.
type DialOptions struct {
	// ClientID identifies the session. Empty: a random ID is generated
	// (with V5 the server may assign one instead).
	ClientID string
	// Username and Password authenticate; Username is also taken from the
	// URL's user info. Neither ever appears in logs or errors.
	Username string
	Password []byte
	// Version is the protocol version. 0: try V5, fall back to V311 when
	// the server refuses 5.
	Version Version
	// KeepAlive is the keep alive announced in CONNECT: the client sends
	// PINGREQ after three quarters of it without traffic and takes a
	// server that does not answer within half of it for gone. 0: 60s;
	// negative: off (unlike MQTT.js, where keepalive 0 turns it off). A
	// server keep alive in CONNACK takes precedence.
	//
	// KeepAlive, SessionExpiry, WillDelay and Message.MessageExpiry travel
	// in whole seconds: they are rounded to the nearest second, and a
	// value under one second is refused (30 is 30ns in Go: write
	// 30 * time.Second).
	KeepAlive time.Duration
	// KeepSession resumes the session the server holds for ClientID and
	// keeps it after the connection ends. false: a clean start.
	KeepSession bool
	// SessionExpiry is how long (v5) the server keeps the session after the
	// connection ends, in whole seconds. 0 with KeepSession: forever.
	// Negative: refused.
	SessionExpiry time.Duration
	// Will is published by the server when the connection ends without a
	// DISCONNECT.
	Will *Message
	// WillDelay delays the will (v5), in whole seconds. Negative: refused.
	WillDelay time.Duration
	// TLSConfig is used for mqtts, tls, ssl, wss. nil: verify the server
	// against the system roots. Under GOOS=js Dial refuses it: the browser
	// makes the TLS connection.
	TLSConfig *tls.Config
	// AllowPlaintext lets a client with a TLSConfig connect to plain-text
	// URLs (mqtt://, tcp://, ws://) too. false: Dial refuses such a URL,
	// and an attempt to connect to one that BeforeConnect returns fails,
	// since a TLSConfig says TLS was meant and the password would go out
	// in clear.
	AllowPlaintext bool
	// Store keeps unacknowledged QoS 1/2 messages. nil: in memory.
	Store persist.Store
	// Servers are more URLs, tried in order after the one given to Dial,
	// at Dial and at every reconnection.
	Servers []string

	// NoReconnect turns automatic reconnection off: the loss of the
	// connection ends the client. false: after a lost connection the
	// client connects again, waiting between attempts, until it succeeds
	// or is closed; calls made meanwhile wait (bounded by their ctx).
	NoReconnect bool
	// ReconnectDelay is the wait before the first reconnection attempt;
	// it doubles after every failed attempt up to MaxReconnectDelay, and
	// each wait is varied by up to ±20 % so that many clients cut off at
	// once do not come back at once. 0: 1s and 30s.
	ReconnectDelay    time.Duration
	MaxReconnectDelay time.Duration
	// WebSocket configures the upgrade request of ws:// and wss:// URLs.
	// nil: no extra headers, the subprotocol "mqtt", an Origin made of
	// the URL's host.
	WebSocket *WebSocketOptions
	// NoRedirect keeps the client from following a server's redirection
	// (MQTT 5.0 section 4.11). false: a CONNACK or DISCONNECT with reason
	// code 0x9C (use another server) or 0x9D (server moved) and a Server
	// Reference has the client connect to the server(s) it names (one
	// or more, space separated, host or host:port; reached with the
	// scheme, path, credentials, TLSConfig and BeforeConnect of the
	// server that referred; a missing port is its port). 0x9D makes the
	// new server the first tried on every later connection. At most 4
	// redirections are followed in a row.
	NoRedirect bool
	// ConnectTimeout bounds each connection attempt to one server, from
	// dialing to CONNACK. 0: 30s.
	ConnectTimeout time.Duration
	// BeforeConnect, when set, is called before every attempt to connect
	// to a server, at Dial and at every reconnection. It may change the
	// URL and the credentials (a signed WebSocket URL, an expiring token)
	// and may block, bounded by ctx. An error skips that server for this
	// attempt.
	BeforeConnect func(ctx context.Context, a *ConnectAttempt) error
	// NoResubscribe keeps the client from subscribing again, after a
	// reconnection to a server that kept no session for it, to the filters
	// of its open Subscriptions. false: it does.
	NoResubscribe bool
	// OfflineQueue is how many QoS 0 messages Publish queues while the
	// client is reconnecting; they are sent once it is connected, and
	// dropped if the client is closed first. When the queue is full,
	// Publish waits like QoS 1 and 2 do. 0: 1000; negative: none, a QoS 0
	// Publish fails at once with ErrNotConnected while offline.
	OfflineQueue int

	// ReceiveMaximum is how many unacknowledged QoS 1/2 messages the
	// server may send us at once. 0: 1024. A v5 server is told, and one
	// that sends more is disconnected (0x93). A 3.x server is not told:
	// at the maximum the client stops reading the connection until the
	// application takes messages with Next, so that TCP holds the server
	// back (meanwhile nothing else is read either, the acknowledgements
	// of our own publishes included).
	ReceiveMaximum uint16
	// MaximumPacketSize is the largest packet we accept. 0: no limit but
	// the protocol's.
	MaximumPacketSize int
	// MaxQueuedBytes bounds the QoS 0 messages a Subscription keeps for an
	// application that does not call Next fast enough, in bytes of topic,
	// payload and properties (and at most 65,536 messages). QoS 0 has no
	// flow control and the client never stops reading for one slow
	// Subscription, so a QoS 0 message that does not fit is dropped, the
	// newest: what is queued stays, in order. Subscription.Dropped counts
	// them. A message larger than the bound is still queued when no other
	// QoS 0 message waits. QoS 1 and 2 messages are never dropped and do
	// not count: ReceiveMaximum bounds them. The messages held for a
	// future Subscribe because none matched (a resumed session's) have the
	// same bound, whatever their QoS: see Client.Dropped. 0 or negative:
	// 16 MiB per Subscription.
	MaxQueuedBytes int
	// AckTimeout bounds how long a message taken with
	// Subscription.NextDelivery may stay unsettled: after it, the client
	// settles it itself, refusing it with 0x80 unspecified error (MQTT
	// 5.0) or acknowledging it (3.x, which has no refusal), so that the
	// acknowledgements of the messages that arrived after it, which must
	// wait for it (MQTT-4.6.0-2), can leave. 0 or negative: one minute.
	AckTimeout time.Duration

	// TopicAliasMaximum is how many topic aliases the server may set on
	// messages it sends us (v5). 0: none.
	TopicAliasMaximum uint16
	// AutoTopicAlias sends a topic alias instead of the topic for topics
	// published before on the connection, up to the server's Topic Alias
	// Maximum (v5; MQTT.js autoAssignTopicAlias): fewer bytes for long
	// topics published often. false: topics always go out in full.
	AutoTopicAlias bool
	// NoProblemInfo asks the server to leave reason strings and user
	// properties out of its acknowledgements (v5 Request Problem
	// Information 0). false: the server may send them.
	NoProblemInfo bool
	// UserProperties are sent in CONNECT (v5). Dial refuses them with
	// V31 or V311, and with Version 0 does not fall back to 3.1.1 for
	// them.
	UserProperties []UserProperty
	// RequestResponseInfo asks the server for response information (v5),
	// used by Request to choose its response topic.
	RequestResponseInfo bool

	// Auth carries out MQTT 5.0 enhanced authentication (SCRAM, Kerberos,
	// ...) at every connection; see also Client.Reauthenticate. nil: none,
	// the user name and password alone.
	Auth Authenticator

	// Dialer opens the network connection; nil: a net.Dialer with TCP
	// keep-alive on (probes after 30s of silence, every 15s, 4 of them),
	// whatever KeepAlive is. It may connect through a proxy or a unix
	// socket; address is "host:port". Under GOOS=js Dial refuses it: the
	// browser's WebSocket opens the connection.
	Dialer func(ctx context.Context, network, address string) (net.Conn, error)

	// Logger receives debug logs of every packet and info logs of
	// connections. nil: no logs.
	Logger *slog.Logger
	// OnConnect is called after every successful CONNACK, with whether the
	// server resumed a session.
	OnConnect func(sessionPresent bool)
	// OnConnectionLost is called when the connection ends unexpectedly,
	// with why: when the server closes it or sends DISCONNECT, at once
	// (within 10 ms), and when the server goes silent, within 1.5 times
	// the keep alive.
	OnConnectionLost func(err error)
	// OnUndeliverable is called when the client gives a QoS 1 or 2
	// message up for which no Publish waits any more (its ctx ended after
	// the message was sent, or it was found in the Store): the server
	// closed the connection each of 5 times in a row, right after it was sent,
	// with nothing sent after it acknowledged. The message is removed
	// from the Store; err says why. (A Publish that still waits fails
	// with that error instead.) nil: the message is dropped with a log
	// line.
	OnUndeliverable func(m Message, err error)
	// OnReconnecting is called before each reconnection attempt (the
	// first is 1) with the wait before it and the error that ended the
	// connection or the previous attempt.
	OnReconnecting func(attempt int, delay time.Duration, lastErr error)
	// OnPacketSent and OnPacketReceived see every packet (MQTT.js
	// packetsend and packetreceive). A packet is reported sent before its
	// bytes can reach the server, so never after its answer. They run on
	// the client's goroutines, or on that of a Publish reading its answer,
	// and must return quickly; they must not keep the packet.
	//
	// The callbacks above run on the client's own goroutine; they must not
	// wait for the client (a Publish from OnConnect would wait for itself
	// after a reconnection): start a goroutine for that.
	OnPacketSent     func(wire.Packet)
	OnPacketReceived func(wire.Packet)
}

// withDefaults returns a copy of o with defaults applied.
func (o *DialOptions) withDefaults() DialOptions {
	var c DialOptions
	if o != nil {
		c = *o
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 60 * time.Second
	}
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = 1024
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = defaultMaxQueuedBytes
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = time.Minute
	}
	if c.Store == nil {
		c.Store = persist.NewMemory()
	}
	if c.ReconnectDelay <= 0 {
		c.ReconnectDelay = time.Second
	}
	if c.MaxReconnectDelay <= 0 {
		c.MaxReconnectDelay = 30 * time.Second
	}
	c.MaxReconnectDelay = max(c.MaxReconnectDelay, c.ReconnectDelay)
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.OfflineQueue == 0 {
		c.OfflineQueue = 1000
	}
	return c
}

// seconds is d in whole seconds, as MQTT carries durations: rounded to the
// nearest second, at most max. Durations under a second never come here:
// Dial and Publish refuse them (secondsHint).
func seconds(d time.Duration, max uint32) uint32 {
	s := d.Round(time.Second) / time.Second
	if s > time.Duration(max) {
		return max
	}
	return uint32(s)
}

// secondsHint says what to write instead of a duration under a second: most
// often a number of seconds written bare, which Go reads as nanoseconds
// (SessionExpiry: 3600 is 3.6µs).
func secondsHint(d time.Duration) string {
	if d < time.Microsecond*100 {
		return fmt.Sprintf("for %d seconds write %d * time.Second", int64(d), int64(d))
	}
	return "use time.Second or more"
}

// WebSocketOptions configures the WebSocket upgrade request (MQTT.js
// wsOptions). BeforeConnect may change the headers for each attempt.
type WebSocketOptions struct {
	// Header is sent with the upgrade request: Authorization, Cookie, a
	// signed header. It never appears in logs or errors.
	Header http.Header
	// Origin is the request's Origin. "": http:// and the URL's host.
	Origin string
	// Protocols are the WebSocket subprotocols offered. nil: "mqtt", the
	// one MQTT names (MQTT-6.0.0-3); some servers want "mqttv3.1" too.
	Protocols []string
}

// ConnectAttempt is one attempt to connect to one server, as
// DialOptions.BeforeConnect sees it and may change it.
type ConnectAttempt struct {
	// URL is the server, without user info: Username and Password hold
	// it. A URL set by the hook may carry user info; it then wins.
	URL      string
	Username string
	Password []byte
	// Attempt is 0 at Dial, then counts the reconnection attempts since
	// the connection was lost, from 1.
	Attempt int
	// Header is the WebSocket upgrade request's header (ws://, wss://): a
	// copy of DialOptions.WebSocket.Header, which the hook may change for
	// this attempt (an expiring token, a signed header).
	Header http.Header
}

func checkOptions(o *DialOptions) error {
	switch o.Version {
	case 0, V31, V311, V5:
	default:
		return badOptionf("DialOptions.Version %d is not a protocol version; use V31, V311 or V5", o.Version)
	}
	if o.Will != nil {
		if err := wire.CheckTopicName(o.Will.Topic); err != nil {
			return badOptionf("will: %w", err)
		}
		if o.Will.QoS > QoS2 {
			return badOptionf("will QoS %d is not 0, 1 or 2", o.Will.QoS)
		}
		if o.Will.MessageExpiry < 0 {
			return badOptionf("will: MessageExpiry %v is negative; use 0 for a will that never expires", o.Will.MessageExpiry)
		}
	}
	// MQTT counts these in whole seconds: a bare number is nanoseconds,
	// and would go out as 0 or 1.
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"KeepAlive", o.KeepAlive},
		{"SessionExpiry", o.SessionExpiry},
		{"WillDelay", o.WillDelay},
		{"Will.MessageExpiry", willExpiry(o.Will)},
	} {
		if d.d > 0 && d.d < time.Second {
			return badOptionf("DialOptions.%s %v is under a second, MQTT's unit: %s", d.name, d.d, secondsHint(d.d))
		}
	}
	if o.SessionExpiry < 0 || o.WillDelay < 0 {
		return badOptionf("DialOptions.SessionExpiry and WillDelay cannot be negative (%v, %v)", o.SessionExpiry, o.WillDelay)
	}
	if o.Version == V31 && len(o.ClientID) > 23 {
		// MQTT 3.1 servers refuse longer ones; they count bytes.
		return badOptionf("DialOptions.ClientID %q is %d bytes long; MQTT 3.1 allows at most 23: choose a shorter one, or use V311 or V5", o.ClientID, len(o.ClientID))
	}
	if len(o.UserProperties) > 0 && (o.Version == V31 || o.Version == V311) {
		// Refused, as message properties are, rather than dropped silently.
		return badOptionf("DialOptions.UserProperties need MQTT 5.0, not %v: remove them or use V5", o.Version)
	}
	if o.Auth != nil && o.Version != 0 && o.Version != V5 {
		return badOptionf("DialOptions.Auth needs MQTT 5.0, not %v", o.Version)
	}
	return nil
}

func willExpiry(w *Message) time.Duration {
	if w == nil {
		return 0
	}
	return w.MessageExpiry
}
