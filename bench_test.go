package mqtt_test

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// ackServer is the cheapest possible MQTT server for measuring the client's
// own cost: it acknowledges every PUBLISH at once and routes nothing.
func ackServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serveAcks(conn)
			}()
		}
	}()
	return "mqtt://" + ln.Addr().String()
}

func serveAcks(conn net.Conn) {
	r := wire.NewReader(conn, 0)
	w := bufio.NewWriterSize(conn, 64<<10)
	pkt, err := r.ReadPacket(wire.V5)
	if err != nil {
		return
	}
	v := pkt.(*wire.Connect).Version
	b, _ := (&wire.Connack{}).Append(nil, v)
	conn.Write(b)
	var out []byte
	for {
		h, body, err := r.Next()
		if err != nil {
			return
		}
		out = out[:0]
		switch h.Type {
		case wire.PUBLISH:
			// Parsed by hand: the server's own allocations would count
			// against the client in this benchmark.
			qos := h.Flags >> 1 & 3
			if qos == 0 {
				continue
			}
			n := int(body[0])<<8 | int(body[1])
			id := body[2+n : 4+n]
			first := byte(0x40) // PUBACK
			if qos == 2 {
				first = 0x50 // PUBREC
			}
			out = append(out, first, 2, id[0], id[1])
		case wire.PUBREL:
			out = append(out, 0x70, 2, body[0], body[1])
		case wire.PINGREQ:
			out = append(out, 0xd0, 0)
		case wire.DISCONNECT:
			w.Flush()
			return
		}
		w.Write(out)
		if r.Buffered() == 0 {
			w.Flush()
		}
	}
}

// BenchmarkPublish measures the client's cost per Publish against a server
// that only acknowledges: allocations and CPU, sequential and with 64 in
// flight.
func BenchmarkPublish(b *testing.B) {
	url := ackServer(b)
	for _, bc := range []struct {
		name     string
		qos      mqtt.QoS
		parallel int
	}{
		{"QoS0", mqtt.QoS0, 1},
		{"QoS1", mqtt.QoS1, 1},
		{"QoS2", mqtt.QoS2, 1},
		{"QoS1/64inflight", mqtt.QoS1, 64},
		{"QoS2/64inflight", mqtt.QoS2, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			c, err := mqtt.Dial(ctx, url, &mqtt.DialOptions{Version: mqtt.V5})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			m := mqtt.Message{Topic: "bench/topic", QoS: bc.qos, Payload: make([]byte, 64)}
			b.ReportAllocs()
			b.SetBytes(int64(len(m.Payload)))
			b.ResetTimer()
			if bc.parallel == 1 {
				for b.Loop() {
					if err := c.Publish(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism((bc.parallel + 1) / 2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Publish(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
