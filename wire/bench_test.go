package wire_test

import (
	"bytes"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
)

var payloadSizes = []struct {
	name string
	n    int
}{{"16B", 16}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// benchPublish is a QoS 1 PUBLISH of n payload bytes as a client sends it.
func benchPublish(n int) *wire.Publish {
	return &wire.Publish{QoS: 1, Topic: "sensors/kitchen/temperature", PacketID: 4711, Payload: bytes.Repeat([]byte{'x'}, n)}
}

// benchConnect is a v5 CONNECT with properties, a will and credentials.
func benchConnect() *wire.Connect {
	for _, g := range goldenCases() {
		if c, ok := g.pkt.(*wire.Connect); ok && c.Version == wire.V5 && c.Properties != nil && c.Will != nil {
			return c
		}
	}
	panic("no v5 CONNECT with properties in the golden table")
}

// benchSubscribe is a v5 SUBSCRIBE of three filters with a subscription
// identifier.
func benchSubscribe() *wire.Subscribe {
	return &wire.Subscribe{
		PacketID:   17,
		Properties: &wire.Properties{SubscriptionIDs: []int{42}},
		Filters: []wire.Filter{
			{Topic: "sensors/+/temperature", QoS: 1},
			{Topic: "alerts/#", QoS: 2, NoLocal: true},
			{Topic: "$share/workers/jobs/+", QoS: 1, RetainHandling: 2},
		},
	}
}

// benchAppend encodes p for v into a reused buffer.
func benchAppend(b *testing.B, p wire.Packet, v wire.Version) {
	buf, err := p.Append(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ReportMetric(float64(len(buf)), "wire-bytes")
	for b.Loop() {
		buf, err = p.Append(buf[:0], v)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchDecode decodes the encoding of p for v with wire.Decode.
func benchDecode(b *testing.B, p wire.Packet, v wire.Version) {
	raw, err := p.Append(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	h, n, err := wire.ParseHeader(raw)
	if err != nil {
		b.Fatal(err)
	}
	body := raw[n:]
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(h, body, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishAppend(b *testing.B) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		for _, s := range payloadSizes {
			b.Run("v"+v.String()+"/"+s.name, func(b *testing.B) {
				benchAppend(b, benchPublish(s.n), v)
			})
		}
	}
}

// BenchmarkPublishDecode decodes into one reused Publish: two allocations,
// the topic and the payload.
func BenchmarkPublishDecode(b *testing.B) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		for _, s := range payloadSizes {
			b.Run("v"+v.String()+"/"+s.name, func(b *testing.B) {
				raw, err := benchPublish(s.n).Append(nil, v)
				if err != nil {
					b.Fatal(err)
				}
				h, n, err := wire.ParseHeader(raw)
				if err != nil {
					b.Fatal(err)
				}
				body := raw[n:]
				var p wire.Publish
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if err := p.Decode(h.Flags, body, v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkConnectAppend(b *testing.B) { benchAppend(b, benchConnect(), wire.V5) }
func BenchmarkConnectDecode(b *testing.B) { benchDecode(b, benchConnect(), wire.V5) }

func BenchmarkSubscribeAppend(b *testing.B) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		b.Run("v"+v.String(), func(b *testing.B) { benchAppend(b, subscribeFor(v), v) })
	}
}

func BenchmarkSubscribeDecode(b *testing.B) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		b.Run("v"+v.String(), func(b *testing.B) { benchDecode(b, subscribeFor(v), v) })
	}
}

// subscribeFor returns benchSubscribe, stripped of what v cannot carry.
func subscribeFor(v wire.Version) *wire.Subscribe {
	s := benchSubscribe()
	if v != wire.V5 {
		s.Properties = nil
		for i := range s.Filters {
			s.Filters[i] = wire.Filter{Topic: s.Filters[i].Topic, QoS: s.Filters[i].QoS}
		}
	}
	return s
}

// cycle is an endless stream that repeats b, handing out at most len(p)
// bytes per Read.
type cycle struct {
	b   []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.b[c.off:])
		n += k
		c.off = (c.off + k) % len(c.b)
	}
	return n, nil
}

// smallPublishStream returns 1000 small PUBLISH packets, QoS 0 and 1 in
// turn, as a subscriber receives them.
func smallPublishStream(tb testing.TB, v wire.Version) []byte {
	var raw []byte
	for i := range 1000 {
		p := &wire.Publish{Topic: "sensors/kitchen/temperature", Payload: []byte("21.5 degrees C!!")}
		if i%2 == 1 {
			p.QoS, p.PacketID = 1, uint16(i)
		}
		var err error
		if raw, err = p.Append(raw, v); err != nil {
			tb.Fatal(err)
		}
	}
	return raw
}

// BenchmarkReader reads a stream of small PUBLISH packets with Reader.Next
// (no decoding: 0 allocations) and with ReadPacket (decoding each).
func BenchmarkReader(b *testing.B) {
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		raw := smallPublishStream(b, v)
		perPacket := float64(len(raw)) / 1000
		b.Run("v"+v.String()+"/Next", func(b *testing.B) {
			r := wire.NewReader(&cycle{b: raw}, 0)
			b.SetBytes(int64(perPacket))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
		b.Run("v"+v.String()+"/ReadPacket", func(b *testing.B) {
			r := wire.NewReader(&cycle{b: raw}, 0)
			b.SetBytes(int64(perPacket))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ReadPacket(v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// TestAllocs holds the allocation budget the benchmarks measure, so that a
// plain go test catches a regression: encoding into a buffer with room
// allocates nothing; decoding a PUBLISH allocates its topic and payload only;
// Reader.Next allocates nothing in steady state.
func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	for _, v := range []wire.Version{wire.V311, wire.V5} {
		for _, s := range payloadSizes {
			p := benchPublish(s.n)
			raw, _ := p.Append(nil, v)
			buf := make([]byte, 0, len(raw))
			if n := testing.AllocsPerRun(100, func() { buf, _ = p.Append(buf[:0], v) }); n != 0 {
				t.Errorf("PUBLISH %v %s: Append allocates %v times, want 0", v, s.name, n)
			}
			h, hn, _ := wire.ParseHeader(raw)
			var q wire.Publish
			if n := testing.AllocsPerRun(100, func() { _ = q.Decode(h.Flags, raw[hn:], v) }); n > 2 {
				t.Errorf("PUBLISH %v %s: Decode allocates %v times, want at most 2", v, s.name, n)
			}
		}
		for _, p := range []wire.Packet{subscribeFor(v), &wire.Puback{PacketID: 1}, &wire.Pingreq{}} {
			buf, _ := p.Append(nil, v)
			if n := testing.AllocsPerRun(100, func() { buf, _ = p.Append(buf[:0], v) }); n != 0 {
				t.Errorf("%v %v: Append allocates %v times, want 0", p.Type(), v, n)
			}
		}
		r := wire.NewReader(&cycle{b: smallPublishStream(t, v)}, 0)
		if n := testing.AllocsPerRun(1000, func() { _, _, _ = r.Next() }); n != 0 {
			t.Errorf("%v: Reader.Next allocates %v times, want 0", v, n)
		}
	}
	c := benchConnect()
	buf, _ := c.Append(nil, wire.V5)
	if n := testing.AllocsPerRun(100, func() { buf, _ = c.Append(buf[:0], wire.V5) }); n != 0 {
		t.Errorf("CONNECT: Append allocates %v times, want 0", n)
	}
}
