package wire_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// stream returns the encodings of the golden cases of version v, one after
// the other, and the packets they decode to.
func stream(v wire.Version) ([]byte, []wire.Packet) {
	var b []byte
	var pkts []wire.Packet
	for _, g := range goldenCases() {
		if g.v == v {
			b = append(b, g.raw...)
			pkts = append(pkts, g.pkt)
		}
	}
	return b, pkts
}

// TestReaderStream reads every golden packet of a version from one stream,
// through readers that hand out the bytes in different ways and with buffers
// of different sizes, down to one byte.
func TestReaderStream(t *testing.T) {
	t.Parallel()
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"EOF with data", iotest.DataErrReader},
	}
	for _, v := range versions {
		raw, want := stream(v)
		for _, rd := range readers {
			for _, size := range []int{0, 1, 2, 5, 7, 64} {
				t.Run(v.String()+"/"+rd.name+"/"+itoa(size), func(t *testing.T) {
					t.Parallel()
					r := wire.NewReader(rd.wrap(bytes.NewReader(raw)), size)
					for i, w := range want {
						got, err := r.ReadPacket(v)
						if err != nil {
							t.Fatalf("packet %d (%v): %v", i, w.Type(), err)
						}
						if diff := cmpDiff(w, got); diff != "" {
							t.Fatalf("packet %d (-want +got):\n%s", i, diff)
						}
					}
					for range 2 { // io.EOF, and it sticks
						if p, err := r.ReadPacket(v); err != io.EOF || p != nil {
							t.Fatalf("after the last packet: %v, %v; want io.EOF", p, err)
						}
					}
				})
			}
		}
	}
}

// randomChunks hands out its bytes in pieces of random sizes, from one byte
// to 20,000: bursts that grow a Reader's buffer, then small reads after
// which it goes back to its small one.
type randomChunks struct {
	b   []byte
	rnd *rand.Rand
}

func (c *randomChunks) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + c.rnd.IntN(20000)
	if c.rnd.IntN(3) == 0 {
		n = 1 + c.rnd.IntN(300)
	}
	k := copy(p[:min(len(p), n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// TestReaderBurstsAndQuiet reads a long stream of packets, small and large,
// handed out in random pieces, with the default buffer: whatever the buffer
// does between bursts and quiet reads, every packet comes out whole.
func TestReaderBurstsAndQuiet(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	var raw []byte
	var want []*wire.Publish
	for i := range 3000 {
		size := rnd.IntN(100)
		if i%50 == 0 {
			size = 1000 + rnd.IntN(70000)
		}
		p := &wire.Publish{Topic: "t/" + itoa(i+1), QoS: 1, PacketID: uint16(i%65535 + 1), Payload: make([]byte, size)}
		for j := range p.Payload {
			p.Payload[j] = byte(i + j)
		}
		raw, _ = p.Append(raw, wire.V5)
		want = append(want, p)
	}
	r := wire.NewReader(&randomChunks{b: raw, rnd: rnd}, 0)
	for i, w := range want {
		got, err := r.ReadPacket(wire.V5)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if diff := cmpDiff(wire.Packet(w), got); diff != "" {
			t.Fatalf("packet %d (-want +got):\n%s", i, diff)
		}
	}
	if _, err := r.ReadPacket(wire.V5); err != io.EOF {
		t.Fatalf("after the last packet: %v, want io.EOF", err)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestReaderBatches: packets already in the buffer are handed out without
// another read; Buffered says how many bytes wait.
func TestReaderBatches(t *testing.T) {
	t.Parallel()
	raw, want := stream(wire.V311)
	cr := &countingReader{r: bytes.NewReader(raw)}
	r := wire.NewReader(cr, 0)
	if r.Buffered() != 0 {
		t.Fatalf("Buffered before reading = %d", r.Buffered())
	}
	left := len(raw)
	for i := range want {
		h, body, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if h.Remaining != len(body) {
			t.Errorf("header says %d bytes, body has %d", h.Remaining, len(body))
		}
		left -= h.Size()
		if r.Buffered() != left {
			t.Errorf("after packet %d: Buffered = %d, want %d", i, r.Buffered(), left)
		}
	}
	if cr.reads != 1 {
		t.Errorf("%d reads for %d bytes that fit the buffer, want 1", cr.reads, len(raw))
	}
}

type countingReader struct {
	r     io.Reader
	reads int
	bytes int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	n, err := c.r.Read(p)
	c.bytes += n
	return n, err
}

// TestReaderEnd: io.EOF at a packet boundary, io.ErrUnexpectedEOF inside a
// packet, other errors as they come; all sticky.
func TestReaderEnd(t *testing.T) {
	t.Parallel()
	pingreq := hx("c0 00")
	publish := hx("30", "07", "0003 612f62", "6869")
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		packets int
		want    error
	}{
		{"empty stream", bytes.NewReader(nil), 0, io.EOF},
		{"at a boundary", bytes.NewReader(cat(pingreq, publish)), 2, io.EOF},
		{"inside the first byte's header", bytes.NewReader(hx("30")), 0, io.ErrUnexpectedEOF},
		{"inside the remaining length", bytes.NewReader(hx("30 80")), 0, io.ErrUnexpectedEOF},
		{"inside a long remaining length", bytes.NewReader(hx("30 ff ff ff")), 0, io.ErrUnexpectedEOF},
		{"inside the body", bytes.NewReader(publish[:5]), 0, io.ErrUnexpectedEOF},
		{"one byte short", bytes.NewReader(cat(pingreq, publish[:len(publish)-1])), 1, io.ErrUnexpectedEOF},
		{"one byte short, byte by byte", iotest.OneByteReader(bytes.NewReader(publish[:len(publish)-1])), 0, io.ErrUnexpectedEOF},
		{"reader error at a boundary", io.MultiReader(bytes.NewReader(pingreq), iotest.ErrReader(boom)), 1, boom},
		{"reader error inside a packet", io.MultiReader(bytes.NewReader(publish[:3]), iotest.ErrReader(boom)), 0, boom},
		{"timeout", iotest.TimeoutReader(bytes.NewReader(pingreq)), 1, iotest.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := wire.NewReader(tt.r, 4)
			for i := range tt.packets {
				if _, err := r.ReadPacket(wire.V311); err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
			}
			for range 2 {
				if p, err := r.ReadPacket(wire.V311); err != tt.want || p != nil {
					t.Fatalf("got %v, %v; want %v", p, err, tt.want)
				}
			}
		})
	}
}

// TestParseShort: Parse asks for more bytes with io.ErrUnexpectedEOF.
func TestParseShort(t *testing.T) {
	t.Parallel()
	publish := hx("30", "07", "0003 612f62", "6869")
	for i := range len(publish) {
		p, n, err := wire.Parse(publish[:i], wire.V311)
		if err != io.ErrUnexpectedEOF || p != nil || n != 0 {
			t.Errorf("Parse of %d bytes: %v, %d, %v; want io.ErrUnexpectedEOF", i, p, n, err)
		}
		if h, n, err := wire.ParseHeader(publish[:i]); i < 2 && (n != 0 || err != nil) {
			t.Errorf("ParseHeader of %d bytes: %+v, %d, %v", i, h, n, err)
		}
	}
	// Two packets: Parse takes the first.
	p, n, err := wire.Parse(cat(publish, hx("c0 00")), wire.V311)
	if err != nil || n != len(publish) || p.Type() != wire.PUBLISH {
		t.Errorf("Parse = %v, %d, %v", p, n, err)
	}
}

// TestReaderDecodeErrorNotSticky: a packet that does not decode leaves the
// stream in step; the next packet reads fine.
func TestReaderDecodeErrorNotSticky(t *testing.T) {
	t.Parallel()
	bad := hx("30", "03", "0001 23") // PUBLISH to "#"
	good := hx("c0 00")
	r := wire.NewReader(bytes.NewReader(cat(bad, good)), 0)
	if _, err := r.ReadPacket(wire.V311); !errors.Is(err, wire.ErrProtocol) {
		t.Fatalf("first packet: %v, want a protocol error", err)
	}
	if p, err := r.ReadPacket(wire.V311); err != nil || p.Type() != wire.PINGREQ {
		t.Fatalf("second packet: %v, %v", p, err)
	}
}

// TestReaderTimeoutNotSticky: a read deadline that expires, even in the
// middle of a packet, loses nothing; Next goes on when called again. The
// client interrupts a read that way when a waiting caller gives up.
func TestReaderTimeoutNotSticky(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := wire.NewReader(client, 0)
	pkt := hx("30 07", "0003 612f62", "6869") // PUBLISH "a/b" "hi"
	go func() {
		server.Write(pkt[:4])
	}()
	client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := r.Next(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Next with a packet half sent: %v, want a deadline error", err)
	}
	client.SetReadDeadline(time.Time{})
	go server.Write(pkt[4:])
	p, err := r.ReadPacket(wire.V311)
	if err != nil {
		t.Fatalf("Next after the timeout: %v", err)
	}
	if pub, ok := p.(*wire.Publish); !ok || pub.Topic != "a/b" || string(pub.Payload) != "hi" {
		t.Fatalf("got %+v, want the PUBLISH whole", p)
	}
}

// TestReaderHeaderErrorSticky: a fixed header that breaks the rules ends the
// stream for good.
func TestReaderHeaderErrorSticky(t *testing.T) {
	t.Parallel()
	for _, raw := range [][]byte{
		hx("62 02 0001", "c0 00"),                // PUBREL with flags 0010 then PINGREQ: fine
		hx("60 02 0001", "c0 00"),                // PUBREL with flags 0000 MQTT-3.6.1-1
		hx("30 ff ff ff ff 01", "c0 00"),         // five-byte remaining length
		hx("00 00", "c0 00"),                     // packet type 0
		hx("36 05 0001 74 0001", "c0 00"),        // PUBLISH QoS 3 MQTT-3.3.1-4
		hx("c0 00", "e0 00", "82 02 0001 c0 00"), // PINGREQ DISCONNECT, then SUBSCRIBE without filters (decode error, not sticky)
	} {
		r := wire.NewReader(bytes.NewReader(raw), 0)
		for {
			_, _, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if _, _, err2 := r.Next(); err2 != err {
					t.Errorf("% x: error %v, then %v; want it to stick", raw, err, err2)
				}
				var we *wire.Error
				if !errors.As(err, &we) || we.Code != wire.MalformedPacket {
					t.Errorf("% x: %v, want a malformed packet error", raw, err)
				}
				break
			}
		}
	}
}

// TestReaderMaxPacketSize: MQTT-3.1.2-24: a packet above the client's
// Maximum Packet Size is refused as PacketTooLarge.
func TestReaderMaxPacketSize(t *testing.T) {
	t.Parallel()
	publish := hx("30", "07", "0003 612f62", "6869") // 9 bytes
	tests := []struct {
		name string
		max  int
		ok   bool
	}{
		{"no limit", 0, true},
		{"negative is no limit", -1, true},
		{"above MaxPacketSize is no limit", wire.MaxPacketSize + 1, true},
		{"exactly the size", 9, true},
		{"one byte less MQTT-3.1.2-24", 8, false},
		{"two bytes MQTT-3.1.2-24", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := wire.NewReader(bytes.NewReader(cat(publish, publish)), 0)
			r.MaxPacketSize = tt.max
			_, err := r.ReadPacket(wire.V311)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkError(t, err, wire.PacketTooLarge, wire.PUBLISH)
			if _, err2 := r.ReadPacket(wire.V311); err2 != err {
				t.Errorf("then %v; want the error to stick", err2)
			}
		})
	}
}

// headerOnly hands out a fixed header and fails the test if it is read past
// it: the Reader must refuse the packet from its header alone.
type headerOnly struct {
	t      *testing.T
	header []byte
}

func (h *headerOnly) Read(p []byte) (int, error) {
	if len(h.header) == 0 {
		h.t.Errorf("Reader read past the header of a packet it must refuse")
		return 0, io.EOF
	}
	n := copy(p, h.header)
	h.header = h.header[n:]
	return n, nil
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReaderRefusesBeforeReading: a header announcing 256 MiB above
// MaxPacketSize costs no read of the body and no memory for it. Not parallel:
// it measures allocation.
func TestReaderRefusesBeforeReading(t *testing.T) {
	for _, size := range []int{0, 5, 1024} {
		var err error
		r := wire.NewReader(&headerOnly{t: t, header: hx("30", "ff ff ff 7f")}, size)
		r.MaxPacketSize = 1 << 20
		n := allocated(func() { _, _, err = r.Next() })
		checkError(t, err, wire.PacketTooLarge, wire.PUBLISH, "268435460 bytes", "1048576")
		// The error itself takes a few hundred bytes; the rest is slack
		// for the runtime's own allocations.
		if limit := uint64(16 << 10); n > limit {
			t.Errorf("buffer %d: refusing the packet allocated %d bytes, want at most %d", size, n, limit)
		}
	}
	// The same for the header alone, byte by byte.
	r := wire.NewReader(iotest.OneByteReader(&headerOnly{t: t, header: hx("30", "ff ff ff 7f")}), 1)
	r.MaxPacketSize = 100
	_, _, err := r.Next()
	checkError(t, err, wire.PacketTooLarge, wire.PUBLISH)
}

// TestReaderMemoryFollowsBytes: with no limit, a header announcing 256 MiB
// followed by a few bytes costs memory in proportion to the bytes that
// arrive, not to the announced length, however they are split into reads.
// Not parallel: it measures allocation.
func TestReaderMemoryFollowsBytes(t *testing.T) {
	const sent = 100_000
	header := hx("30", "ff ff ff 7f")
	body := make([]byte, sent)
	for _, rd := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
	} {
		for _, size := range []int{0, 16} {
			var err error
			n := allocated(func() {
				r := wire.NewReader(rd.wrap(bytes.NewReader(cat(header, body))), size)
				_, _, err = r.Next()
			})
			if err != io.ErrUnexpectedEOF {
				t.Errorf("%s, buffer %d: %v, want io.ErrUnexpectedEOF", rd.name, size, err)
			}
			// Doubling costs at most 4 times the bytes (the last buffer
			// and all the ones before it), plus the first buffer.
			if limit := uint64(4*sent + max(size, wire.DefaultReadBuffer) + 64<<10); n > limit {
				t.Errorf("%s, buffer %d: %d bytes sent, %d allocated; want at most %d", rd.name, size, sent, n, limit)
			}
		}
	}
}

// TestReaderLargePacket: a packet larger than the buffer is read whole; the
// packets after it still come out right.
func TestReaderLargePacket(t *testing.T) {
	t.Parallel()
	big := &wire.Publish{Topic: "big", Payload: bytes.Repeat([]byte("0123456789"), 10_000)}
	small := &wire.Publish{Topic: "small", Payload: []byte("x")}
	var raw []byte
	for _, p := range []*wire.Publish{small, big, small, big, small} {
		var err error
		if raw, err = p.Append(raw, wire.V5); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int{1, 16, 1000, 0} {
		r := wire.NewReader(iotest.HalfReader(bytes.NewReader(raw)), size)
		for i, want := range []*wire.Publish{small, big, small, big, small} {
			got, err := r.ReadPacket(wire.V5)
			if err != nil {
				t.Fatalf("buffer %d, packet %d: %v", size, i, err)
			}
			if diff := cmpDiff(wire.Packet(want), got); diff != "" {
				t.Fatalf("buffer %d, packet %d (-want +got):\n%s", size, i, diff)
			}
		}
		if _, err := r.ReadPacket(wire.V5); err != io.EOF {
			t.Fatalf("buffer %d: %v, want io.EOF", size, err)
		}
	}
}

// lazyReader returns (0, nil) every other call, which io.Reader allows.
type lazyReader struct {
	r    io.Reader
	lazy bool
}

func (l *lazyReader) Read(p []byte) (int, error) {
	l.lazy = !l.lazy
	if l.lazy {
		return 0, nil
	}
	return l.r.Read(p)
}

func TestReaderZeroReads(t *testing.T) {
	t.Parallel()
	raw, want := stream(wire.V311)
	r := wire.NewReader(&lazyReader{r: iotest.OneByteReader(bytes.NewReader(raw))}, 3)
	for i, w := range want {
		got, err := r.ReadPacket(wire.V311)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if diff := cmpDiff(w, got); diff != "" {
			t.Fatalf("packet %d (-want +got):\n%s", i, diff)
		}
	}
	if _, err := r.ReadPacket(wire.V311); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

// TestReaderReady: Ready is true exactly when Next can return without
// reading: a whole packet is buffered, or a bad header is.
func TestReaderReady(t *testing.T) {
	t.Parallel()
	puback := []byte{0x40, 0x02, 0x00, 0x07}
	// Two PUBACKs and the first three bytes of a third arrive together.
	stream := append(append(append([]byte(nil), puback...), puback...), puback[:3]...)
	r := wire.NewReader(bytes.NewReader(stream), 0)
	if r.Ready() {
		t.Fatal("Ready before anything was read")
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Error("Ready = false with a whole PUBACK buffered")
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Ready() {
		t.Errorf("Ready = true with only %d bytes of the next packet buffered", r.Buffered())
	}
	bad := wire.NewReader(bytes.NewReader([]byte{0x00, 0x00, 0x40}), 0) // type 0 is reserved
	bad.Next()
	if !bad.Ready() {
		t.Error("Ready = false after an error: Next would return it at once")
	}
}
