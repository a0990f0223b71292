package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/culex-mqtt/mqtt/wire"
)

// Client is a session with an MQTT server, carried by one network
// connection at a time. When the connection is lost, the client connects
// again (see DialOptions.NoReconnect) and takes up where it stood: calls
// made meanwhile wait, and unacknowledged messages are sent again.
//
// All methods may be called concurrently from many goroutines. Publish calls
// made at the same time are pipelined over the one connection, as many at once
// as the server's Receive Maximum allows.
//
// Its goroutines: per connection, a reading goroutine (started when
// anything may arrive that no call is reading for; see "Who reads the
// connection" in connection.go) and a writing one (started the first time
// a write cannot be made by the caller); after the first lost connection,
// a supervisor that connects again. Keep alive runs on a timer. Close and
// Disconnect stop them all and wait for them to end.
type Client struct {
	// Set by Dial, then read only.
	opts   DialOptions
	sess   *session        // packet identifiers, operations in flight both ways, quota, the Store
	router router          // incoming messages to Subscriptions; acknowledgement order
	ctx    context.Context // cancelled when the client ends; it bounds reconnection
	cancel context.CancelFunc

	cn atomic.Pointer[connection] // the latest connection, alive or not; stored by establish

	// Owned by the goroutine that dials (Dial, then the supervisor).
	nextGen  uint64       // for the next connection
	redirect *redirection // where the last connection's DISCONNECT sent us

	mu       sync.Mutex
	targets  []*target               // under mu: the servers, first to try first (moveTo)
	clientID string                  // under mu: as the server knows us; may be assigned (v5)
	versions map[string]wire.Version // under mu: by server URL (target.raw), V311 where 5.0 was refused
	up       chan struct{}           // under mu: closed when a new connection is installed, then replaced
	offline  [][]byte                // under mu: QoS 0 PUBLISH packets made while offline, encoded
	closed   bool                    // under mu: end ran, wg takes no more goroutines

	// In closed's padding, so that the Client fits the 896-byte allocation
	// size class, not 1,024 (ten thousand clients, 1.25 MB).
	unanswered bool        // owned by the goroutine that dials: an attempt since the last connection sent CONNECT and lost its connection before CONNACK (final)
	hurry      atomic.Bool // Reconnect asked: the next attempt waits for no delay

	wake chan struct{} // Reconnect wakes a supervisor waiting between attempts; capacity 1

	done      chan struct{} // closed when the client has ended
	err       error         // why it ended; set before done is closed
	closeOnce sync.Once
	ending    atomic.Bool    // Disconnect is under way: a lost connection is not replaced
	wg        sync.WaitGroup // the supervisor, the requester

	stats counters // atomic

	reqMu sync.Mutex
	req   *requester // under reqMu

	authMu sync.Mutex // one re-authentication at a time
}

// Locks, in the order they may be taken: a goroutine holding one takes only
// those below it.
//
//	router.releaseMu        (subscribe.go) orders an UNSUBSCRIBE of release before a SUBSCRIBE
//	router.ackMu            (subscribe.go) keeps acknowledgements in arrival order
//	Client.mu               the life cycle's fields above
//	router.mu               Subscriptions, held messages, the order of acknowledgements
//	Subscription.mu         one Subscription's queue
//	session.mu              operations in flight, packet identifiers
//	connection.inMu         incoming QoS 1/2 messages unanswered (Receive Maximum)
//	session.inMu            incoming QoS 2 identifiers
//	releasedQoS2.mu
//	writer.mu               the bytes waiting to be written
//
// Client.authMu comes before all of them: Reauthenticate holds it across
// its whole exchange (one at a time, MQTT-4.12.1-2), the Authenticator's
// calls included. So does Client.reqMu: the first Request holds it while
// it subscribes to its response topic.
//
// No user callback (the On... options, the trace hooks, an Authenticator)
// runs under any of the locks of the table. The Store is written under
// none, with two rare exceptions under ackMu (receive.go, acknowledge): a
// QoS 2 message acknowledged before anybody could take it (a held message,
// router.dueLocked) is recorded there, and one that a Subscription accepted
// and another refused is forgotten there; messages handed out are recorded
// before ackMu is taken (router.settled). A batch's Store changes are
// applied by the reading goroutine holding no lock (connection.commit).

// Dial connects to the MQTT server at rawURL and returns once the server has
// accepted the connection with CONNACK.
//
// The URL scheme picks the transport: mqtt:// and tcp:// (plain TCP, port
// 1883), mqtts://, tls:// and ssl:// (TLS, 8883), ws:// (WebSocket, 80), wss://,
// wxs:// and alis:// (WebSocket over TLS, 443); in a browser (GOOS=js) the
// WebSocket ones only, the browser's. User info in the URL sets the
// user name and password; '/', '?', '#', '@' and ':' in them must be
// percent-encoded. Only WebSocket URLs may have a path or query. After
// rawURL, the URLs in opts.Servers are tried in order; the first that
// accepts wins. With opts.TLSConfig set, a plain-text URL is refused unless
// opts.AllowPlaintext is set too.
//
// Errors and logs show a URL as scheme://host:port/path: never its user
// info, nor the query, which may carry a signature.
//
// ctx bounds the dial only, never the life of the client. A server that
// refuses the connection gives a *ConnectError with its reason code.
// Messages an earlier process left in opts.Store are sent once connected.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Client, error) {
	o := opts.withDefaults()
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	urls := append([]string{rawURL}, o.Servers...)
	targets := make([]*target, 0, len(urls))
	for _, u := range urls {
		t, err := parseURL(u)
		if err == nil {
			err = checkTransport(t, &o)
		}
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	c := &Client{
		targets:  targets,
		clientID: o.ClientID,
		up:       make(chan struct{}),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		nextGen:  firstGen,
	}
	o.Store = countingStore{Store: o.Store, writes: &c.stats.storeWrites}
	c.opts, c.sess = o, newSession(o.Store)
	c.sess.released.seed = maphash.MakeSeed()
	if c.clientID == "" && (o.Version == V31 || o.KeepSession) {
		c.clientID = "culex-" + randomHex(8)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.router.init(c)
	if err := c.sess.load(); err != nil {
		c.cancel()
		return nil, err
	}
	if _, err := c.dialAny(ctx, 0); err != nil {
		c.cancel()
		return nil, err
	}
	return c, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ClientID returns the client identifier in use, which the server may have
// assigned (v5).
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Version returns the protocol version of the latest connection.
func (c *Client) Version() Version { return Version(c.cn.Load().version) }

// Connected reports whether the client has a connection now: false from
// the moment the connection is lost (the server closed it, sent DISCONNECT,
// or stayed silent beyond the keep alive) until the next one is up, and once
// the client has ended.
func (c *Client) Connected() bool { return c.current() != nil }

// Done returns a channel that is closed when the client has ended: by Close,
// by Disconnect, or, with NoReconnect, by the loss of its connection. Err
// tells why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the client runs, and then why it ended: ErrClosed
// after Close or Disconnect, else an error that wraps ErrClosed and the cause
// (a *DisconnectError when the server sent DISCONNECT).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the client now, without DISCONNECT: the server publishes the
// will, if any. Calls in progress return ErrClosed; QoS 0 messages queued
// while offline are dropped. Unacknowledged QoS 1/2 messages stay in the
// Store. Close waits for the client's goroutines to end and may be called
// more than once.
func (c *Client) Close() error {
	c.end(ErrClosed)
	c.waitEnded()
	return nil
}

// waitEnded waits for the goroutines of an ended client: the supervisor's, and
// the connection's, which no supervisor may be watching.
func (c *Client) waitEnded() {
	c.wg.Wait()
	if cn := c.cn.Load(); cn != nil {
		cn.wg.Wait()
	}
}

// Disconnect ends the client gracefully: it waits until every QoS 1/2
// message in flight has been acknowledged (or ctx ends), reconnecting if it
// must, then sends DISCONNECT and closes the connection, so the server
// discards the will. It returns ctx's error when ctx ended before the drain
// was complete; the client is closed either way. DisconnectWith says why
// (MQTT 5.0).
func (c *Client) Disconnect(ctx context.Context) error {
	return c.disconnect(ctx, &wire.Disconnect{})
}

// disconnect ends the client as Disconnect does, with pkt as its DISCONNECT.
func (c *Client) disconnect(ctx context.Context, pkt *wire.Disconnect) error {
	err := c.sess.drain(ctx, c.done)
	select {
	case <-c.done:
		c.waitEnded()
		return c.Err()
	default:
	}
	// The server closes the connection after DISCONNECT; the supervisor
	// must not take that for a loss.
	c.ending.Store(true)
	if cn := c.current(); cn != nil {
		cn.w.sendLast(pkt) // MQTT-3.14.4-1: nothing after it
	}
	c.end(ErrClosed)
	c.waitEnded()
	if err != nil {
		return wrapf(err, "disconnected with messages still in flight")
	}
	return nil
}

// end ends the client with err, once, and closes its connection.
func (c *Client) end(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.err = err
		close(c.done)
		c.cancel()
		if cn := c.cn.Load(); cn != nil {
			cn.fail(ErrClosed)
		}
		if err != ErrClosed {
			c.logInfo("client ended", "error", err)
		}
	})
}

// trace reports a packet to the hooks and the logger.
func (c *Client) trace(sent bool, p wire.Packet) {
	if sent {
		if c.opts.OnPacketSent != nil {
			c.opts.OnPacketSent(p)
		}
	} else if c.opts.OnPacketReceived != nil {
		c.opts.OnPacketReceived(p)
	}
	if c.opts.Logger != nil && c.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		dir := "received"
		if sent {
			dir = "sent"
		}
		c.opts.Logger.Debug("mqtt packet "+dir, "type", p.Type().String(), "packet", packetSummary(p))
	}
}

// packetSummary describes a packet for logs without secrets or payloads.
func packetSummary(p wire.Packet) string {
	switch p := p.(type) {
	case *wire.Connect:
		return fmt.Sprintf("client_id=%q clean=%v keepalive=%d user_set=%v password_set=%v will=%v",
			p.ClientID, p.CleanStart, p.KeepAlive, p.Username != "" || p.UsernameFlag, p.Password != nil, p.Will != nil)
	case *wire.Publish:
		return fmt.Sprintf("topic=%q qos=%d id=%d dup=%v retain=%v bytes=%d", p.Topic, p.QoS, p.PacketID, p.Dup, p.Retain, len(p.Payload))
	}
	return fmt.Sprintf("%+v", p)
}

func (c *Client) logInfo(msg string, args ...any) {
	if c.opts.Logger != nil {
		c.opts.Logger.Info("mqtt: "+msg, args...)
	}
}

// State is where a Client stands: connected, reconnecting, or closed.
type State int

// The states of a Client. A Client is connected when Dial returns it.
const (
	StateConnected    State = iota + 1 // a connection is up
	StateReconnecting                  // the connection was lost; the client connects again
	StateClosed                        // Close, Disconnect, or a lost connection with NoReconnect
)

// String returns "connected", "reconnecting" or "closed".
func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// State returns where the client stands. It is StateConnected exactly
// while Connected is true; a client with NoReconnect is StateClosed from the
// moment its connection is lost, while Err may still be nil for a moment.
// It agrees with the callbacks: StateConnected when OnConnect runs,
// StateReconnecting (or, with NoReconnect, StateClosed) when
// OnConnectionLost runs.
func (c *Client) State() State {
	switch {
	case c.Err() != nil:
		return StateClosed
	case c.current() != nil:
		return StateConnected
	case c.opts.NoReconnect:
		return StateClosed // the supervisor is ending the client
	}
	return StateReconnecting
}
