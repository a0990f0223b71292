package mqtttest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt/internal/leakcheck"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// TestMain fails the run if goroutines started by the tests outlive them.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// timeout bounds every wait in these tests; none is expected to come near
// it.
const timeout = 10 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// newServer starts a server that the test's cleanup closes.
func newServer(t testing.TB, opts ...mqtttest.Option) *mqtttest.Server {
	t.Helper()
	srv := mqtttest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// client is a raw MQTT client: it writes and reads packets with the wire
// package and nothing else, so tests see exactly what the server does.
type client struct {
	t  testing.TB
	nc net.Conn
	r  *wire.Reader
	v  wire.Version
}

func newClient(t testing.TB, nc net.Conn, v wire.Version) *client {
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, r: wire.NewReader(nc, 0), v: v}
}

// dial connects a raw client over TCP.
func dial(t testing.TB, srv *mqtttest.Server, v wire.Version) *client {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "mqtt://"))
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, nc, v)
}

// dialMem connects a raw client in memory.
func dialMem(t testing.TB, srv *mqtttest.Server, v wire.Version) *client {
	t.Helper()
	nc, err := srv.Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, nc, v)
}

// connect dials and connects a client with a clean session, failing the
// test unless the server accepts it.
func connect(t testing.TB, srv *mqtttest.Server, v wire.Version, id string) *client {
	t.Helper()
	c := dial(t, srv, v)
	c.connect(&wire.Connect{ClientID: id, CleanStart: true})
	return c
}

// connect sends p and returns the CONNACK, failing unless it accepts.
func (c *client) connect(p *wire.Connect) *wire.Connack {
	c.t.Helper()
	c.send(p)
	ack, ok := c.recv().(*wire.Connack)
	if !ok || ack.ReasonCode != wire.Success {
		c.t.Fatalf("CONNECT %q: got %#v, want a successful CONNACK", p.ClientID, ack)
	}
	return ack
}

func (c *client) send(ps ...wire.Packet) {
	c.t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = p.Append(b, c.v); err != nil {
			c.t.Fatalf("encoding %v: %v", p.Type(), err)
		}
	}
	c.write(b)
}

func (c *client) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) recv() wire.Packet {
	c.t.Helper()
	p, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

func (c *client) read() (wire.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	return c.r.ReadPacket(c.v)
}

// expect reads len(want) packets and compares them with want.
func (c *client) expect(want ...wire.Packet) {
	c.t.Helper()
	got := make([]wire.Packet, len(want))
	for i := range want {
		got[i] = c.recv()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		c.t.Fatalf("packets (-want +got):\n%s", diff)
	}
}

// expectClosed reads until the server closes the connection; it fails if a
// packet other than those in allowed arrives first.
func (c *client) expectClosed(allowed ...wire.Packet) {
	c.t.Helper()
	var got []wire.Packet
	for {
		p, err := c.read()
		if err != nil {
			if !isClosed(err) {
				c.t.Fatalf("got %v, want the connection closed", err)
			}
			break
		}
		got = append(got, p)
	}
	if diff := cmp.Diff(allowed, got); diff != "" {
		c.t.Fatalf("packets before close (-want +got):\n%s", diff)
	}
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrClosedPipe)
}

// subscribe subscribes to filters at their QoS and checks the SUBACK
// grants them, with the SUBSCRIBE's packet identifier (MQTT-2.2.1-6,
// MQTT-3.8.4-2) and a code per filter (MQTT-3.8.4-6).
func (c *client) subscribe(id uint16, filters ...wire.Filter) {
	c.t.Helper()
	c.send(&wire.Subscribe{PacketID: id, Filters: filters})
	codes := make([]wire.ReasonCode, len(filters))
	for i, f := range filters {
		codes[i] = wire.ReasonCode(f.QoS)
	}
	c.expect(&wire.Suback{PacketID: id, ReasonCodes: codes})
}

func ptr[T any](v T) *T { return &v }
