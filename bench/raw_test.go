package bench

// The raw socket pump: MQTT spoken over a net.Conn with the standard library
// only and packets encoded before the clock starts. It does the least work a
// client can do for each shape, so it is the limit any client can reach
// through the same broker:
//
//   - It reads into a large buffer and parses every packet the buffer holds
//     before it reads again, so the broker can batch its writes.
//   - It writes many packets per system call: QoS 0 publishes in batches of
//     64, QoS 1/2 publishes (and PUBRELs) as many as the window allows after
//     each read.
//   - It keeps no state beyond counters: no store, no routing, no goroutine
//     per message.
//
// It speaks MQTT 5.0, as culex (by default) and paho.golang do, and sends
// the same packets they do: a PUBLISH has an empty property section, an
// acknowledgement is the short form (packet identifier only).
//
// raw-unbatched is the same pump writing every packet with a system call of
// its own (a write per PUBLISH, and per PUBREL), as a client does that
// neither buffers nor corks its writes: the difference between the two is
// what coalescing writes is worth, to the client and to the broker. The
// round trip and the short-lived job have one packet to write at a time in
// raw already, so raw-unbatched runs only the throughput shapes.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// MQTT packet types, as they appear in the high four bits of the first byte.
const (
	rawCONNECT    = 1
	rawCONNACK    = 2
	rawPUBLISH    = 3
	rawPUBACK     = 4
	rawPUBREC     = 5
	rawPUBREL     = 6
	rawPUBCOMP    = 7
	rawSUBSCRIBE  = 8
	rawSUBACK     = 9
	rawDISCONNECT = 14
	rawReadBuffer = 256 << 10 // for the long-lived connections
	rawJobBuffer  = 4 << 10   // for the short-lived job: its packets are tiny
)

// rawAppendLength appends an MQTT variable byte integer.
func rawAppendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func rawAppendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// rawPacket frames body as a packet with the given first byte.
func rawPacket(first byte, body []byte) []byte {
	p := rawAppendLength([]byte{first}, len(body))
	return append(p, body...)
}

// rawConnectPacket is an MQTT 5.0 CONNECT with clean start, no properties.
func rawConnectPacket(clientID string, keepAlive uint16) []byte {
	var body []byte
	body = rawAppendString(body, "MQTT")
	body = append(body, 5, 0x02) // protocol level 5, clean start
	body = binary.BigEndian.AppendUint16(body, keepAlive)
	body = append(body, 0) // no properties
	body = rawAppendString(body, clientID)
	return rawPacket(rawCONNECT<<4, body)
}

// rawPublishPacket is an MQTT 5.0 PUBLISH without properties. For QoS 1 and
// 2 the packet identifier is the two bytes at rawPublishIDOffset(topic).
func rawPublishPacket(topic string, payload []byte, qos byte, id uint16) []byte {
	var body []byte
	body = rawAppendString(body, topic)
	if qos > 0 {
		body = binary.BigEndian.AppendUint16(body, id)
	}
	body = append(body, 0) // no properties
	body = append(body, payload...)
	return rawPacket(rawPUBLISH<<4|qos<<1, body)
}

// rawPublishIDOffset is where the packet identifier starts in a PUBLISH made
// by rawPublishPacket.
func rawPublishIDOffset(pkt []byte, topic string) int {
	n := 2 // first byte and at least one length byte
	for i := 1; pkt[i]&0x80 != 0; i++ {
		n++
	}
	return n + 2 + len(topic)
}

func rawSubscribePacket(id uint16, topic string, qos byte) []byte {
	body := binary.BigEndian.AppendUint16(nil, id)
	body = append(body, 0) // no properties
	body = rawAppendString(body, topic)
	body = append(body, qos)
	return rawPacket(rawSUBSCRIBE<<4|0x02, body)
}

// rawAckPacket is PUBACK, PUBREC, PUBREL or PUBCOMP in the short form: the
// reason code (Success) and properties are left out.
func rawAckPacket(typ byte, id uint16) []byte {
	first := typ << 4
	if typ == rawPUBREL {
		first |= 0x02
	}
	return []byte{first, 2, byte(id >> 8), byte(id)}
}

var rawDisconnectPacket = []byte{rawDISCONNECT << 4, 0}

// rawConn reads packets from a connection through one large buffer: a read
// takes whatever the kernel holds, and the packets it brought are all parsed
// before the next read.
type rawConn struct {
	net.Conn
	buf        []byte
	start, end int
}

func newRawConn(c net.Conn, size int) *rawConn {
	return &rawConn{Conn: c, buf: make([]byte, size)}
}

// next returns the next packet's first byte and body; the body is valid
// until the next call.
func (r *rawConn) next() (byte, []byte, error) {
	for {
		if first, body, ok := r.parse(); ok {
			return first, body, nil
		}
		if r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
		if r.end == len(r.buf) {
			return 0, nil, errors.New("raw: packet larger than the read buffer")
		}
		n, err := r.Conn.Read(r.buf[r.end:])
		r.end += n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
	}
}

// buffered reports whether a whole packet is waiting in the buffer.
func (r *rawConn) buffered() bool {
	s, e := r.start, r.end
	_, _, ok := r.parse()
	r.start, r.end = s, e
	return ok
}

func (r *rawConn) parse() (byte, []byte, bool) {
	b := r.buf[r.start:r.end]
	if len(b) < 2 {
		return 0, nil, false
	}
	n, mul, i := 0, 1, 1
	for ; ; i++ {
		if i >= len(b) || i > 4 {
			return 0, nil, false
		}
		n += int(b[i]&0x7f) * mul
		mul *= 128
		if b[i]&0x80 == 0 {
			break
		}
	}
	i++
	if len(b) < i+n {
		return 0, nil, false
	}
	r.start += i + n
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	return b[0], b[i : i+n], true
}

// expect reads the next packet and checks its type.
func (r *rawConn) expect(typ byte) ([]byte, error) {
	first, body, err := r.next()
	if err != nil {
		return nil, err
	}
	if first>>4 != typ {
		return nil, fmt.Errorf("raw: got packet type %d, want %d", first>>4, typ)
	}
	return body, nil
}

// rawDial connects and completes CONNECT/CONNACK. The connection reads
// through a buffer of bufSize bytes.
func rawDial(ctx context.Context, addr, clientID string, bufSize int) (*rawConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	r := newRawConn(c, bufSize)
	if _, err := c.Write(rawConnectPacket(clientID, 60)); err != nil {
		c.Close()
		return nil, err
	}
	body, err := r.expect(rawCONNACK)
	if err == nil && (len(body) < 2 || body[1] != 0) {
		err = fmt.Errorf("raw: CONNACK refused: % x", body)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return r, nil
}

// subscribe subscribes to topic and waits for SUBACK.
func (r *rawConn) subscribe(topic string, qos byte) error {
	if _, err := r.Write(rawSubscribePacket(1, topic, qos)); err != nil {
		return err
	}
	body, err := r.expect(rawSUBACK)
	if err != nil {
		return err
	}
	if len(body) < 4 || body[len(body)-1] != qos {
		return fmt.Errorf("raw: SUBACK % x, want QoS %d granted", body, qos)
	}
	return nil
}

func (r *rawConn) disconnect() error {
	_, err := r.Write(rawDisconnectPacket)
	r.Close()
	return err
}

// rawContender is the raw socket pump as a contender: raw, or with
// unbatched set raw-unbatched, which writes one packet per system call.
type rawContender struct {
	unbatched bool
}

func (r rawContender) name() string {
	if r.unbatched {
		return "raw-unbatched"
	}
	return "raw"
}

// send adds pkt to out, the packets of the next write; raw-unbatched writes
// it at once instead, with a system call of its own.
func (r rawContender) send(c *rawConn, out, pkt []byte) ([]byte, error) {
	if !r.unbatched {
		return append(out, pkt...), nil
	}
	_, err := c.Write(pkt)
	return out, err
}

func (r rawContender) qos0(tb testing.TB, addr, topic string, payload []byte) (func(n int) error, func()) {
	ctx := context.Background()
	sub, err := rawDial(ctx, addr, clientID("raw-sub"), rawReadBuffer)
	if err != nil {
		tb.Fatal(err)
	}
	if err := sub.subscribe(topic, 0); err != nil {
		tb.Fatal(err)
	}
	pub, err := rawDial(ctx, addr, clientID("raw-pub"), rawReadBuffer)
	if err != nil {
		tb.Fatal(err)
	}
	pkt := rawPublishPacket(topic, payload, 0, 0)
	batch := 64
	if r.unbatched {
		batch = 1
	}
	var many []byte
	for range batch {
		many = append(many, pkt...)
	}
	run := func(n int) error {
		var got atomic.Int64
		done := make(chan error, 1)
		go func() {
			for got.Load() < int64(n) {
				first, _, err := sub.next()
				if err != nil {
					done <- err
					return
				}
				if first>>4 == rawPUBLISH {
					got.Add(1)
				}
			}
			done <- nil
		}()
		for i := 0; i < n; i += batch {
			b := many
			if n-i < batch {
				b = many[:(n-i)*len(pkt)]
			}
			if _, err := pub.Write(b); err != nil {
				return err
			}
		}
		return awaitAll(done, &got, n, func() { sub.SetReadDeadline(time.Unix(1, 0)) })
	}
	return run, func() { pub.disconnect(); sub.disconnect() }
}

func (r rawContender) publishInflight(tb testing.TB, addr, topic string, payload []byte, qos byte) (func(n int) error, func()) {
	pub, err := rawDial(context.Background(), addr, clientID("raw-pub"), rawReadBuffer)
	if err != nil {
		tb.Fatal(err)
	}
	pkt := rawPublishPacket(topic, payload, qos, 1)
	idAt := rawPublishIDOffset(pkt, topic)
	run := func(n int) error {
		pub.SetDeadline(time.Now().Add(runTimeout(n)))
		defer pub.SetDeadline(time.Time{})
		out := make([]byte, 0, inflight*(len(pkt)+4))
		var rels []byte                 // PUBRELs due, 4 bytes each
		sent, acked, pending := 0, 0, 0 // pending: published, not yet acknowledged
		var err error
		for acked < n {
			out = out[:0]
			for i := 0; i < len(rels); i += 4 {
				if out, err = r.send(pub, out, rels[i:i+4]); err != nil {
					return err
				}
			}
			rels = rels[:0]
			for pending < inflight && sent < n {
				id := uint16(sent%65535 + 1)
				binary.BigEndian.PutUint16(pkt[idAt:], id)
				if out, err = r.send(pub, out, pkt); err != nil {
					return err
				}
				sent++
				pending++
			}
			if len(out) > 0 {
				if _, err := pub.Write(out); err != nil {
					return err
				}
			}
			// One read, then every packet it brought.
			for {
				first, body, err := pub.next()
				if err != nil {
					return fmt.Errorf("raw: %d of %d acknowledged: %w", acked, n, err)
				}
				if len(body) < 2 {
					return fmt.Errorf("raw: short acknowledgement % x", body)
				}
				if len(body) > 2 && body[2] >= 0x80 {
					return fmt.Errorf("raw: publish refused with reason code %#x", body[2])
				}
				id := binary.BigEndian.Uint16(body)
				switch first >> 4 {
				case rawPUBACK, rawPUBCOMP:
					acked++
					pending--
				case rawPUBREC:
					rels = append(rels, rawAckPacket(rawPUBREL, id)...)
				default:
					return fmt.Errorf("raw: unexpected packet type %d", first>>4)
				}
				if !pub.buffered() {
					break
				}
			}
		}
		return nil
	}
	return run, func() { pub.disconnect() }
}

func (rawContender) roundTrip(tb testing.TB, addr, topic string, payload []byte) (func() error, func()) {
	c, err := rawDial(context.Background(), addr, clientID("raw-rt"), rawReadBuffer)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.subscribe(topic, 1); err != nil {
		tb.Fatal(err)
	}
	pkt := rawPublishPacket(topic, payload, 1, 1)
	idAt := rawPublishIDOffset(pkt, topic)
	ack := rawAckPacket(rawPUBACK, 0)
	var next uint16
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	rt := func() error {
		next = next%65535 + 1
		binary.BigEndian.PutUint16(pkt[idAt:], next)
		if _, err := c.Write(pkt); err != nil {
			return err
		}
		acked, received := false, false
		for !acked || !received {
			typ, body, err := c.next()
			if err != nil {
				return err
			}
			switch typ >> 4 {
			case rawPUBACK:
				acked = binary.BigEndian.Uint16(body) == next
			case rawPUBLISH:
				// The message back, at QoS 1: acknowledged at once, as
				// a client does that hands it to the application when it
				// arrives. (Holding the PUBACK back to send it with the
				// next PUBLISH stalls for 40 ms against a broker with
				// Nagle's algorithm on: see README.md.)
				at := 2 + int(binary.BigEndian.Uint16(body))
				copy(ack[2:], body[at:at+2])
				if _, err := c.Write(ack); err != nil {
					return err
				}
				received = true
			default:
				return fmt.Errorf("raw: unexpected packet type %d", typ>>4)
			}
		}
		return nil
	}
	return rt, func() { c.disconnect() }
}

func (rawContender) job(ctx context.Context, addr, topic string, payload []byte) error {
	c, err := rawDial(ctx, addr, clientID("raw-job"), rawJobBuffer)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(rawPublishPacket(topic, payload, 1, 1)); err != nil {
		return err
	}
	if _, err := c.expect(rawPUBACK); err != nil {
		return err
	}
	return c.disconnect()
}
