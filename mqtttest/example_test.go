package mqtttest_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"strings"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// This example talks to the server with the wire package alone, as a
// client library under test would, then lists what the server recorded.
func Example() {
	srv := mqtttest.NewServer()
	defer srv.Close()

	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "mqtt://"))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	r := wire.NewReader(nc, 0)
	roundTrip := func(p wire.Packet) wire.Packet {
		b, _ := p.Append(nil, wire.V311)
		nc.Write(b)
		answer, err := r.ReadPacket(wire.V311)
		if err != nil {
			log.Fatal(err)
		}
		return answer
	}
	roundTrip(&wire.Connect{ClientID: "demo", CleanStart: true})
	roundTrip(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: "greetings/#", QoS: 1}}})
	msg := roundTrip(&wire.Publish{Topic: "greetings/world", QoS: 1, PacketID: 2, Payload: []byte("hello")})
	fmt.Printf("received %q on %s\n", msg.(*wire.Publish).Payload, msg.(*wire.Publish).Topic)

	for _, rec := range srv.Packets() {
		fmt.Println(rec)
	}
	// Output:
	// received "hello" on greetings/world
	// conn 1 "demo" from client CONNECT
	// conn 1 "demo" to client CONNACK
	// conn 1 "demo" from client SUBSCRIBE
	// conn 1 "demo" to client SUBACK
	// conn 1 "demo" from client PUBLISH
	// conn 1 "demo" to client PUBLISH
	// conn 1 "demo" to client PUBACK
}

// This example withholds the server's PUBACKs until the test lets them go.
func ExampleServer_Inject() {
	srv := mqtttest.NewServer()
	defer srv.Close()
	hold := srv.Inject(func(r mqtttest.Record) bool {
		return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
	}, mqtttest.Hold)

	nc, err := srv.Dial(context.Background()) // in memory
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	go func() {
		var b []byte
		b, _ = (&wire.Connect{ClientID: "demo", CleanStart: true}).Append(b, wire.V5)
		b, _ = (&wire.Publish{Topic: "t", QoS: 1, PacketID: 1}).Append(b, wire.V5)
		nc.Write(b)
	}()
	r := wire.NewReader(nc, 0)
	connack, _ := r.ReadPacket(wire.V5)
	fmt.Println(connack.Type())

	held, _ := hold.Wait(context.Background()) // the server has the PUBACK ready
	fmt.Println("held:", held)
	hold.Release()
	puback, _ := r.ReadPacket(wire.V5)
	fmt.Println(puback.Type(), puback.(*wire.Puback).ReasonCode)
	// Output:
	// CONNACK
	// held: conn 1 "demo" to client PUBACK
	// PUBACK no matching subscribers
}
