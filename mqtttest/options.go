package mqtttest

import (
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// An Option configures a Server made by NewServer, NewTLSServer or
// NewUnstartedServer.
type Option func(*options)

// options is the server's configuration. The zero value is not used:
// defaultOptions gives the defaults that the Option functions change.
type options struct {
	versions       [6]bool // indexed by wire.Version
	closeOnVersion bool    // close on a version not in versions, without CONNACK
	authenticate   func(*wire.Connect) wire.ReasonCode
	enhancedAuth   func(c *wire.Connect, step int, data []byte) ([]byte, wire.ReasonCode)

	maxQoS            byte
	retain            bool
	wildcards         bool
	shared            bool
	subIDs            bool
	receiveMaximum    uint16 // 0: not announced (65535)
	maximumPacketSize uint32 // 0: no limit
	topicAliasMaximum uint16
	serverKeepAlive   time.Duration // < 0: the client's value
	responseInfo      string

	recordLimit int // < 0: no limit
}

func defaultOptions() options {
	o := options{
		maxQoS:            2,
		retain:            true,
		wildcards:         true,
		shared:            true,
		subIDs:            true,
		topicAliasMaximum: 10,
		serverKeepAlive:   -1,
		recordLimit:       -1,
	}
	o.versions[wire.V31], o.versions[wire.V311], o.versions[wire.V5] = true, true, true
	return o
}

// Versions sets the protocol versions the server accepts; by default it
// accepts 3.1, 3.1.1 and 5.0. A CONNECT asking for another version is
// refused the way a broker that does not know it would answer: with the
// 4-byte MQTT 3.x CONNACK 20 02 00 01 ("unacceptable protocol version",
// v311:MQTT-3.1.2-2), which a 5.0 client reads as reason code 0x84. Use
// Versions(wire.V311) to test a client's fallback from 5.0 to 3.1.1.
func Versions(vs ...wire.Version) Option {
	return func(o *options) {
		o.versions = [6]bool{}
		for _, v := range vs {
			if int(v) < len(o.versions) {
				o.versions[v] = true
			}
		}
	}
}

// CloseOnUnknownVersion makes the server close the connection, without any
// CONNACK, on a CONNECT of a version that Versions leaves out, as some
// 3.1.1-only brokers do on a 5.0 CONNECT (RabbitMQ's MQTT plugin before
// 3.13): a client must fall back without the reason code 0x84 to go by.
func CloseOnUnknownVersion() Option {
	return func(o *options) { o.closeOnVersion = true }
}

// Authenticate sets a function that decides whether to accept each CONNECT,
// typically by its Username and Password. It returns wire.Success to accept,
// or a CONNACK reason code of 0x80 or above to refuse; the server then sends
// that CONNACK and closes the connection. For MQTT 3.x the code is mapped to
// the 3.x return code of the same meaning (wire.BadUsernameOrPassword to 4,
// wire.NotAuthorized to 5, and so on); a code without a 3.x equivalent
// closes the connection without a CONNACK (v311:MQTT-3.2.2-6).
//
// f runs on the connection's goroutine, one CONNECT at a time per
// connection but concurrently across connections.
func Authenticate(f func(c *wire.Connect) wire.ReasonCode) Option {
	return func(o *options) { o.authenticate = f }
}

// EnhancedAuth enables MQTT 5.0 enhanced authentication (section 4.12).
// For a CONNECT that names an Authentication Method, f is called with the
// CONNECT, step 0 and the CONNECT's Authentication Data; then with step 1,
// 2, ... and the data of each AUTH packet the client sends in reply. f
// returns the data to send back and a code: wire.ContinueAuthentication
// sends an AUTH (0x18) with the data and waits for the client's answer,
// wire.Success accepts (the CONNACK carries the method and the data), and a
// code of 0x80 or above refuses with a CONNACK of that code.
//
// Re-authentication (an AUTH 0x19 after CONNACK) runs the same steps from 0,
// ending in an AUTH 0x00 on success or a DISCONNECT with f's code on
// failure. Without EnhancedAuth, a CONNECT with an Authentication Method is
// refused with 0x8C, bad authentication method (MQTT-4.12.0-1).
func EnhancedAuth(f func(c *wire.Connect, step int, data []byte) ([]byte, wire.ReasonCode)) Option {
	return func(o *options) { o.enhancedAuth = f }
}

// MaximumQoS sets the highest QoS the server supports (default 2). It is
// announced in the v5 CONNACK (MQTT-3.2.2-9); subscriptions are granted at
// most this QoS (MQTT-3.2.2-10), a will above it is refused with 0x9B
// (MQTT-3.2.2-12), and a PUBLISH above it closes the connection (v5:
// DISCONNECT 0x9B).
func MaximumQoS(q byte) Option {
	return func(o *options) { o.maxQoS = min(q, 2) }
}

// RetainAvailable sets whether the server keeps retained messages (default
// true). When false, a v5 CONNACK says so, a retained will is refused with
// 0x9A (MQTT-3.2.2-13), and a PUBLISH with RETAIN 1 closes the connection
// (v5: DISCONNECT 0x9A).
func RetainAvailable(ok bool) Option {
	return func(o *options) { o.retain = ok }
}

// WildcardSubscriptionAvailable sets whether filters may contain '+' and '#'
// (default true). When false, a v5 CONNACK says so and such a filter is
// refused in SUBACK (0xA2; 0x80 in 3.x, v311:MQTT-3.8.3-2).
func WildcardSubscriptionAvailable(ok bool) Option {
	return func(o *options) { o.wildcards = ok }
}

// SharedSubscriptionAvailable sets whether "$share/{group}/{filter}"
// subscriptions are shared (default true). When false, a v5 CONNACK says
// so and such a filter is refused in SUBACK (0x9E; 0x80 in 3.x).
func SharedSubscriptionAvailable(ok bool) Option {
	return func(o *options) { o.shared = ok }
}

// SubscriptionIdentifierAvailable sets whether SUBSCRIBE may carry a
// Subscription Identifier (default true). When false, a v5 CONNACK says so
// and a SUBSCRIBE with one is answered with DISCONNECT 0xA1.
func SubscriptionIdentifierAvailable(ok bool) Option {
	return func(o *options) { o.subIDs = ok }
}

// ReceiveMaximum sets the number of QoS 1 and 2 PUBLISH packets a v5 client
// may have unacknowledged at the server (default 65535, not announced). A
// PUBLISH counts until the server has written its PUBACK or PUBCOMP, so an
// acknowledgement withheld by a Fault keeps counting. A client that goes
// over is disconnected with 0x93 (MQTT-3.3.4-9).
func ReceiveMaximum(n uint16) Option {
	return func(o *options) {
		if n == 0 {
			n = 65535
		}
		o.receiveMaximum = n
	}
}

// MaximumPacketSize sets the largest packet, in bytes, that the server
// accepts (default: no limit beyond the protocol's). It is announced in the
// v5 CONNACK; a larger packet closes the connection (v5: DISCONNECT 0x95).
func MaximumPacketSize(n uint32) Option {
	return func(o *options) { o.maximumPacketSize = n }
}

// TopicAliasMaximum sets the highest Topic Alias a v5 client may use in its
// PUBLISH packets (default 10, as mosquitto; 0 turns aliases off). An alias
// above it gets DISCONNECT 0x94. The server itself never sends aliases.
func TopicAliasMaximum(n uint16) Option {
	return func(o *options) { o.topicAliasMaximum = n }
}

// ServerKeepAlive makes the server override the Keep Alive that v5 clients
// ask for (the Server Keep Alive property of CONNACK),
// truncated to whole seconds; the server then enforces this value. By
// default the server keeps the client's value (MQTT-3.2.2-22). Either way a
// client that sends nothing for one and a half times its Keep Alive is
// disconnected (MQTT-3.1.2-22; v5: DISCONNECT 0x8D).
func ServerKeepAlive(d time.Duration) Option {
	return func(o *options) { o.serverKeepAlive = max(d, 0) }
}

// ResponseInformation sets the Response Information that the CONNACK
// carries when a v5 client asks for it (Request Response Information 1).
// The client ID is appended to it, so "resp/" gives client "c1" the
// Response Information "resp/c1". By default the server sends none
// (MQTT-3.1.2-28 allows that).
func ResponseInformation(prefix string) Option {
	return func(o *options) { o.responseInfo = prefix }
}

// RecordLimit keeps only the n most recent records of the packets seen (see
// Server.Packets); n == 0 records nothing. By default every packet is kept
// for the life of the server, which costs memory in a long benchmark.
func RecordLimit(n int) Option {
	return func(o *options) { o.recordLimit = max(n, 0) }
}
