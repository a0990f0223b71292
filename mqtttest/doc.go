// Package mqtttest provides an MQTT broker for tests: a fake server, in the
// way net/http/httptest provides HTTP servers.
//
// A Server speaks MQTT 3.1, 3.1.1 and 5.0 over TCP, TLS, WebSocket and
// in-memory pipes. It implements what a client needs to meet: QoS 0, 1 and
// 2 in both directions, wildcards, retained messages, persistent sessions
// with session expiry, takeover, wills with delay, keep alive, and the MQTT
// 5.0 additions (receive maximum, maximum packet size, topic aliases from
// the client, subscription identifiers, no local, retain handling, shared
// subscriptions, message expiry, request/response, enhanced
// authentication). It keeps everything in memory and is not meant for
// production.
//
// # Starting a server
//
// NewServer listens on 127.0.0.1 on a port of the system's choosing; URL
// and WSURL tell where. NewTLSServer does the same with TLS and
// ClientTLSConfig gives a configuration that trusts it. Close stops the
// server and waits for its goroutines:
//
//	srv := mqtttest.NewServer()
//	defer srv.Close()
//	c, err := mqtt.Dial(ctx, srv.URL, nil)
//
// Options set the server's limits (MaximumQoS, ReceiveMaximum,
// MaximumPacketSize, ...) and hooks (Authenticate, EnhancedAuth); the
// defaults are those of the specification, except that the server accepts
// topic aliases up to 10, as mosquitto does.
//
// # Observing
//
// The server records every packet it reads or writes, decoded, with the
// connection and client it belongs to. Packets lists them and WaitPacket
// waits for one, so a test never sleeps: it waits for the packet it
// expects, then compares sequences of Records with cmp.Diff. Conn waits for
// a client to connect and returns its connection.
//
// # Misbehaving
//
// Faults break things on purpose, deterministically. Server.Inject drops,
// holds back (until released) or cuts the connection on the packets a
// function picks, in either direction. A Conn can send any packet or raw
// bytes, stop reading (Pause) and resume, disconnect with a reason code, or
// close abruptly; CloseClientConnections closes them all. Versions refuses
// protocol versions, as an older broker would, and Authenticate refuses
// CONNECTs with a reason code.
//
// # In memory and testing/synctest
//
// Dial connects a client through net.Pipe, without a socket. The goroutines
// and timers of a connection belong to the goroutine that dialed it, so a
// connection dialed inside a testing/synctest bubble runs on the bubble's
// fake clock: keep alive, will delays and expiry intervals pass as fast as
// the test lets them. The server itself may be started outside the bubble
// (and closed there, after it); or, made with NewUnstartedServer and never
// started, it has no goroutine of its own and can live inside the bubble:
//
//	synctest.Test(t, func(t *testing.T) {
//		srv := mqtttest.NewUnstartedServer()
//		defer srv.Close()
//		conn, err := srv.Dial(t.Context())
//		...
//	})
package mqtttest
