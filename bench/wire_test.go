package bench

// Codec benchmarks: culex's wire package next to the packets packages of
// paho.golang (MQTT 5.0) and paho.mqtt.golang (MQTT 3.1.1). Every benchmark
// has four sub-benchmarks, one per codec (see the names in wire_cases_test.go),
// and each codec is used the way a client would use it at its best:
//
//   - encode: culex appends to a reused []byte; the paho packages write to a
//     reused bytes.Buffer, reset each time.
//   - decode: every codec reads the packet from a bytes.Reader reset each
//     time, the way a client reads from its connection. culex reads through a
//     wire.Reader made once and gets a new packet each time (ReadPacket); the
//     paho packages use their ReadPacket.
//
// Before a sub-benchmark starts its loop it checks the bytes it wrote or the
// packet it read against the case, and the case has been checked across
// codecs (wireCase.check), so all four do the same work.

import (
	"bytes"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
)

func BenchmarkPublishEncode(b *testing.B) {
	for _, s := range wirePayloadSizes {
		b.Run(s.name, func(b *testing.B) { benchWireEncode(b, wirePublishCase(s.name, s.n), true) })
	}
}

func BenchmarkPublishDecode(b *testing.B) {
	for _, s := range wirePayloadSizes {
		b.Run(s.name, func(b *testing.B) { benchWireDecode(b, wirePublishCase(s.name, s.n), true) })
	}
}

func BenchmarkConnectEncode(b *testing.B) { benchWireEncode(b, wireConnectCase(), false) }

func BenchmarkConnectDecode(b *testing.B) { benchWireDecode(b, wireConnectCase(), false) }

func BenchmarkSubscribeEncode(b *testing.B) { benchWireEncode(b, wireSubscribeCase(), false) }

func BenchmarkSubscribeDecode(b *testing.B) { benchWireDecode(b, wireSubscribeCase(), false) }

// benchWireEncode runs one encoding sub-benchmark per codec. withBytes sets the
// bytes per operation to the packet's size, for a throughput in MB/s.
func benchWireEncode(b *testing.B, c *wireCase, withBytes bool) {
	enc := c.check(b)
	b.Run(codecCulexV5, func(b *testing.B) { encodeCulex(b, c.v5, wire.V5, enc[codecCulexV5], withBytes) })
	b.Run(codecPahoV5, func(b *testing.B) { encodePaho5(b, toPaho5(b, c.v5), enc[codecPahoV5], withBytes) })
	b.Run(codecCulexV311, func(b *testing.B) { encodeCulex(b, c.v311, wire.V311, enc[codecCulexV311], withBytes) })
	b.Run(codecPahoV311, func(b *testing.B) { encodePaho3(b, toPaho3(b, c.v311), enc[codecPahoV311], withBytes) })
}

// benchWireDecode runs one decoding sub-benchmark per codec. Both codecs of a
// protocol version decode the same bytes, culex's encoding, which check has
// shown the other codec reads as the same packet.
func benchWireDecode(b *testing.B, c *wireCase, withBytes bool) {
	enc := c.check(b)
	b.Run(codecCulexV5, func(b *testing.B) { decodeCulex(b, enc[codecCulexV5], wire.V5, c.v5, withBytes) })
	b.Run(codecPahoV5, func(b *testing.B) { decodePaho5(b, enc[codecCulexV5], c.v5, withBytes) })
	b.Run(codecCulexV311, func(b *testing.B) { decodeCulex(b, enc[codecCulexV311], wire.V311, c.v311, withBytes) })
	b.Run(codecPahoV311, func(b *testing.B) { decodePaho3(b, enc[codecCulexV311], c.v311, withBytes) })
}

func wireStart(b *testing.B, size int, withBytes bool) {
	b.ReportAllocs()
	if withBytes {
		b.SetBytes(int64(size))
	}
}

func encodeCulex(b *testing.B, p wire.Packet, v wire.Version, want []byte, withBytes bool) {
	buf, err := p.Append(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(buf, want) {
		b.Fatalf("culex wrote\n% x\nwant\n% x", wireHead(buf), wireHead(want))
	}
	wireStart(b, len(want), withBytes)
	for b.Loop() {
		buf, err = p.Append(buf[:0], v)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func encodePaho5(b *testing.B, p paho5.Packet, want []byte, withBytes bool) {
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		b.Fatalf("paho.golang wrote\n% x\nwant\n% x", wireHead(buf.Bytes()), wireHead(want))
	}
	wireStart(b, len(want), withBytes)
	for b.Loop() {
		buf.Reset()
		if _, err := p.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
}

func encodePaho3(b *testing.B, p paho3.ControlPacket, want []byte, withBytes bool) {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		b.Fatalf("paho.mqtt.golang wrote\n% x\nwant\n% x", wireHead(buf.Bytes()), wireHead(want))
	}
	wireStart(b, len(want), withBytes)
	for b.Loop() {
		buf.Reset()
		if err := p.Write(&buf); err != nil {
			b.Fatal(err)
		}
	}
}

func decodeCulex(b *testing.B, in []byte, v wire.Version, want wire.Packet, withBytes bool) {
	var src bytes.Reader
	src.Reset(in)
	r := wire.NewReader(&src, 0)
	p, err := r.ReadPacket(v)
	if err != nil {
		b.Fatal(err)
	}
	sameWirePacket(b, "culex read", p, want)
	wireStart(b, len(in), withBytes)
	for b.Loop() {
		src.Reset(in)
		if _, err := r.ReadPacket(v); err != nil {
			b.Fatal(err)
		}
	}
}

func decodePaho5(b *testing.B, in []byte, want wire.Packet, withBytes bool) {
	var src bytes.Reader
	src.Reset(in)
	cp, err := paho5.ReadPacket(&src)
	if err != nil {
		b.Fatal(err)
	}
	sameWirePacket(b, "paho.golang read", fromPaho5(b, cp), want)
	wireStart(b, len(in), withBytes)
	for b.Loop() {
		src.Reset(in)
		if _, err := paho5.ReadPacket(&src); err != nil {
			b.Fatal(err)
		}
	}
}

func decodePaho3(b *testing.B, in []byte, want wire.Packet, withBytes bool) {
	var src bytes.Reader
	src.Reset(in)
	cp, err := paho3.ReadPacket(&src)
	if err != nil {
		b.Fatal(err)
	}
	sameWirePacket(b, "paho.mqtt.golang read", fromPaho3(b, cp), want)
	wireStart(b, len(in), withBytes)
	for b.Loop() {
		src.Reset(in)
		if _, err := paho3.ReadPacket(&src); err != nil {
			b.Fatal(err)
		}
	}
}
