package mqtt_test

import (
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// Stats counts what passed: packets and bytes both ways (as many as the
// server recorded), messages published and delivered by QoS, messages in
// flight, resends and reconnections, Store writes.
func TestStats(t *testing.T) {
	t.Parallel()
	srv := mqtttest.NewServer()
	t.Cleanup(srv.Close)
	connected := make(chan struct{}, 4)
	c := dialT(t, srv.URL, &mqtt.DialOptions{ClientID: "counted", KeepSession: true, ReconnectDelay: time.Millisecond,
		OnConnect: func(bool) { connected <- struct{}{} }})
	<-connected
	ctx := testCtx(t)
	s, err := c.Subscribe(ctx, mqtt.Filter{Topic: "t", QoS: mqtt.QoS2})
	if err != nil {
		t.Fatal(err)
	}
	for q := range mqtt.QoS(3) {
		if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: q, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// One message in flight across a lost connection: sent again.
	drop := srv.Inject(func(r mqtttest.Record) bool {
		return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
	}, mqtttest.Drop)
	resent := async(func() error { return c.Publish(ctx, mqtt.Message{Topic: "other", QoS: mqtt.QoS1}) })
	if _, err := drop.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().InFlightOut; got != 1 {
		t.Errorf("InFlightOut = %d with a PUBACK lost, want 1", got)
	}
	drop.Release()
	srv.CloseClientConnections()
	if err := <-resent; err != nil {
		t.Fatal(err)
	}
	<-connected
	// A round trip, so that everything the server recorded has passed.
	if err := c.Publish(ctx, mqtt.Message{Topic: "other", QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}

	st := c.Stats()
	var want mqtt.Stats
	for _, r := range srv.Packets() {
		b, err := r.Packet.Append(nil, wire.V5)
		if err != nil {
			t.Fatal(err)
		}
		if r.Dir == mqtttest.FromClient {
			want.PacketsSent++
			want.BytesSent += uint64(len(b))
		} else {
			want.PacketsReceived++
			want.BytesReceived += uint64(len(b))
		}
	}
	// A packet or two may have been lost with the cut connection: sent
	// by the client and never read by the server, or the other way round.
	near := func(got, recorded uint64, slack uint64) bool {
		return got >= recorded-min(recorded, slack) && got <= recorded+slack
	}
	if !near(st.PacketsSent, want.PacketsSent, 2) || !near(st.BytesSent, want.BytesSent, 8) {
		t.Errorf("sent %d packets, %d bytes; the server recorded %d, %d", st.PacketsSent, st.BytesSent, want.PacketsSent, want.BytesSent)
	}
	if !near(st.PacketsReceived, want.PacketsReceived, 2) || !near(st.BytesReceived, want.BytesReceived, 8) {
		t.Errorf("received %d packets, %d bytes; the server recorded %d, %d", st.PacketsReceived, st.BytesReceived, want.PacketsReceived, want.BytesReceived)
	}
	if st.Published != [3]uint64{1, 3, 1} || st.Delivered != [3]uint64{1, 1, 1} {
		t.Errorf("published %v, delivered %v; want [1 3 1], [1 1 1]", st.Published, st.Delivered)
	}
	if st.InFlightOut != 0 || st.InFlightIn != 0 || st.Reconnects != 1 || st.Resent != 1 {
		t.Errorf("in flight %d out, %d in; %d reconnections, %d resent; want 0, 0, 1, 1", st.InFlightOut, st.InFlightIn, st.Reconnects, st.Resent)
	}
	if st.StoreWrites < 6 {
		// QoS 1: Put, Delete; QoS 2: Put, PUBREL in its place, Delete;
		// incoming QoS 2: Put, Delete; more for the later ones.
		t.Errorf("StoreWrites = %d, want at least 6", st.StoreWrites)
	}
}
