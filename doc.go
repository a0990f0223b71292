// Package mqtt is an MQTT client for MQTT 3.1, 3.1.1 and 5.0, shaped for Go:
// every operation takes a context.Context and blocks until its
// acknowledgement has arrived.
//
// # Connecting
//
// Dial connects and returns after the server's CONNACK:
//
//	c, err := mqtt.Dial(ctx, "mqtt://broker:1883", nil)
//
// The URL scheme selects the transport: mqtt and tcp (plain TCP), mqtts, tls
// and ssl (TLS), ws and wss (WebSocket, subprotocol "mqtt"). A nil
// *DialOptions gives the defaults: MQTT 5.0 with a fall back to 3.1.1, a
// clean start, a keep alive of 60 seconds and an in-memory Store.
//
// # In a browser
//
// Compiled with GOOS=js GOARCH=wasm, the client runs in a web page, with the
// same API and semantics; ws:// and wss:// URLs open the browser's
// WebSocket (subprotocol "mqtt"). What a browser cannot do fails at Dial
// with an error that says so: mqtt://, tcp://, mqtts:// and the other TCP
// schemes, DialOptions.Dialer, and DialOptions.TLSConfig (the browser makes
// the TLS connection and trusts what it trusts). persist.Open fails there
// for want of a file system; the default memory Store works. A browser
// keeps the cause of a failed WebSocket handshake to itself (its console
// shows it), so the error says only that it failed.
//
// A browser's WebSocket cannot hold a server back: it takes every message
// as it arrives. The client reads them at once, but while it holds a server
// back on purpose (see Bounded memory) they wait in memory, and past 16 MiB
// the connection fails and the client connects again; the server sends
// again what was not acknowledged. A write waits while the browser holds
// more than 1 MiB unsent.
//
// As with anything that waits in a Go program in the browser, call Dial,
// Publish, Next and the others from a goroutine, never directly from a
// function that JavaScript calls (a js.FuncOf event handler): the browser
// delivers the answers only once that function has returned.
//
// # Reconnecting
//
// When the connection is lost, the client connects again by itself: after
// about a second, then waiting twice as long after each failed attempt up
// to 30 seconds, each wait varied by ±20 %, trying the URL and then
// DialOptions.Servers. BeforeConnect may change the URL and credentials
// before every attempt. Calls made meanwhile wait, bounded by their ctx;
// QoS 0 messages are queued (DialOptions.OfflineQueue). On the new
// connection the client sends again every QoS 1/2 message still
// unacknowledged, in its original order: with DUP when the server kept the
// session, afresh when it did not, in which case it also subscribes again
// to the filters of its open Subscriptions. OnConnectionLost,
// OnReconnecting and OnConnect tell the application. NoReconnect turns it
// all off: then a lost connection ends the client.
//
// A silent server (a connection that is half-open) is noticed by keep alive
// within 1.25 keep alive, over every transport, even while a write is stuck
// on a server that stopped reading; TCP's own keep-alive stays on beneath,
// for a server that turns MQTT's off.
//
// # Bounded memory
//
// Whatever a server sends, what the client holds for the application is
// bounded: unacknowledged QoS 1 and 2 messages by DialOptions.ReceiveMaximum
// (a v5 server that sends more is disconnected; a 3.x one is held back by
// TCP), QoS 0 messages by DialOptions.MaxQueuedBytes per Subscription (the
// newest are dropped and counted), and packets by MaximumPacketSize.
//
// # Context and cancellation
//
// The ctx of Dial bounds the dial only. The ctx of Publish, Subscribe,
// Unsubscribe and Request bounds the wait for the acknowledgement; when it
// ends, the call returns an error that wraps ctx.Err(), and the session is
// kept: the connection is never closed because a context ended.
//
// For Publish the moment matters. When ctx ends before the PUBLISH was
// written, the message was not sent and is forgotten. When it ends after,
// the error also wraps ErrOutcomeUnknown: the broker may have the message,
// and delivery goes on in the background until it is acknowledged. MQTT
// cannot take back a sent PUBLISH.
//
// # Concurrency
//
// A Client is safe for use by many goroutines. Concurrent Publish calls are
// pipelined over the one connection, as many at once as the server's
// Receive Maximum allows, and packets that become ready together go out in
// one write. The client runs no application code on its reading goroutine:
// incoming messages wait in the Subscription until Next takes them, and
// QoS 1 and 2 messages are acknowledged when Next hands them out, in the
// order they arrived (while nothing else is being read, the acknowledgement
// leaves with the next packet the client sends, or 10 ms later at most).
// Subscription.NextDelivery leaves the acknowledgement
// to the application, which accepts the message or refuses it with an
// MQTT 5.0 reason code once it has dealt with it (Delivery.Accept,
// Delivery.Refuse); the acknowledgements still leave in arrival order, and
// one the application does not give within DialOptions.AckTimeout the
// client gives.
//
// Connected and State tell whether a connection is up, whatever the client
// does: a connection the server closes, or ends with DISCONNECT, is seen
// within 10 ms, and one whose server goes silent within 1.5 times the keep
// alive. (A client that only publishes at QoS 1 or 2, one message at a time,
// has the Publish that waits read its own answer, sparing a goroutine and a
// hand-off per message; the connection's reading goroutine starts as soon
// as the client does anything else, or calls nothing for 10 ms.)
//
// # Errors
//
// Every error reads "mqtt: " once, says what happened and, where it can,
// what to do; errors.Is and errors.As sort them. A Publish ends in one of
// four ways, and a request handler maps them like this:
//
//	outcome                       error matches                 a caller usually
//	acknowledged                  nil                           answers 200
//	invalid argument, not sent    ErrInvalid (and ErrNotSent)   answers 400: the same call fails again
//	not sent, for now             ErrNotSent                    retries, or answers 503: no duplicate possible
//	refused by the server         *ReasonError                  answers by its ReasonCode (403, 413, 429, 502)
//	sent, no acknowledgement      ErrOutcomeUnknown             answers 504; a retry may deliver twice
//
// ErrNotSent wraps the cause: the ctx that ended before the write, ErrClosed,
// ErrNotConnected, the Store's error. ErrInvalid covers topics that break
// the rules, QoS 3, ErrPacketTooLarge, retain or a QoS the server does not
// offer, MQTT 5.0 properties on 3.x, and at Dial, a URL or options that
// cannot work. Subscribe and Unsubscribe end the same four ways: a
// SUBSCRIBE or UNSUBSCRIBE sent whose acknowledgement did not come before
// ctx ended matches ErrOutcomeUnknown too.
//
// A server that refuses the connection gives a *ConnectError; one that
// refuses a subscription gives a *ReasonError; one that sends DISCONNECT
// has the client reconnect, unless it says another client took the session
// over: that ends the client with a *DisconnectError. After Close, calls
// return ErrClosed; with NoReconnect, after a lost connection they return
// an error that wraps ErrClosed and the cause. A server that breaks the
// protocol (a malformed packet, an acknowledgement that cannot be right) is
// told so with DISCONNECT (v5) and the connection is closed. A Store that
// fails ends the client with an error that wraps ErrClosed and the Store's
// error: nothing it held is lost.
//
// # Persistence
//
// QoS 1 and 2 messages are written to DialOptions.Store before their first
// byte is sent and removed when acknowledged. The default store lives in
// memory; persist.Open keeps them on disk, so that a client started again
// with the same ClientID, KeepSession and store completes them.
package mqtt
