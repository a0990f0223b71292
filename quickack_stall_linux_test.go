package mqtt_test

// Suite: TCP quick acknowledgements on Linux, end to end (quickack_linux.go;
// quickack_linux_test.go has the kernel-level tests).

import (
	"net"
	"slices"
	"testing"
	"time"

	mqtt "github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

// delayedACKMin is the shortest time Linux delays an acknowledgement
// (TCP_DELACK_MIN).
const delayedACKMin = 40 * time.Millisecond

// Against a server with Nagle's algorithm on, which holds its PUBACK until
// our TCP acknowledges the echoed message sent before it, a round trip of
// Publish and Next takes what the network takes, not the 40 ms or more of
// the delayed-ACK timer. The client acknowledges the message only when Next
// takes it, after Publish returned: nothing it writes could carry the ACK.
func TestRoundTripWithoutDelayedACKStall(t *testing.T) {
	ln := listenLocal(t)
	go serveConns(ln, func(conn net.Conn) {
		conn.(*net.TCPConn).SetNoDelay(false) // Nagle's algorithm, as mosquitto's default
		r := wire.NewReader(conn, 0)
		send := func(p wire.Packet) {
			b, _ := p.Append(nil, wire.V5)
			conn.Write(b) // one write each: the second waits for our ACK of the first
		}
		var next uint16
		for {
			pkt, err := r.ReadPacket(wire.V5)
			if err != nil {
				return
			}
			switch p := pkt.(type) {
			case *wire.Connect:
				send(&wire.Connack{})
			case *wire.Subscribe:
				send(&wire.Suback{PacketID: p.PacketID, ReasonCodes: []wire.ReasonCode{wire.GrantedQoS1}})
			case *wire.Publish:
				next++
				send(&wire.Publish{Topic: p.Topic, Payload: p.Payload, QoS: 1, PacketID: next})
				send(&wire.Puback{PacketID: p.PacketID})
			}
		}
	})
	ctx := testCtx(t)
	c := dialT(t, "mqtt://"+ln.Addr().String(), &mqtt.DialOptions{NoReconnect: true})
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "rtt", QoS: mqtt.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	// The kernel acknowledges the first segments of a connection at once
	// whatever we do: count only the round trips after those.
	const warmup, rounds = 40, 20
	var took []time.Duration
	for i := range warmup + rounds {
		start := time.Now()
		if err := c.Publish(ctx, mqtt.Message{Topic: "rtt", QoS: mqtt.QoS1, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		if i >= warmup {
			took = append(took, time.Since(start))
		}
	}
	slices.Sort(took)
	if median := took[len(took)/2]; median >= delayedACKMin*3/4 {
		t.Errorf("median round trip %v: the server waited for our delayed ACK (%v or more)", median, delayedACKMin)
	}
}
