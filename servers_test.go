package mqtt_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// closedURL returns the URL of a port where nothing listens.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "mqtt://" + addr
}

// Dial tries its URL, then Servers, in order, once each: a server that
// cannot be reached or refuses the connection passes the turn to the next;
// when all fail, the error names each.
func TestDialServers(t *testing.T) {
	t.Parallel()
	refusing := mqtttest.NewServer(mqtttest.Authenticate(func(*wire.Connect) wire.ReasonCode { return wire.NotAuthorized }))
	t.Cleanup(refusing.Close)
	good := mqtttest.NewServer()
	t.Cleanup(good.Close)
	ctx := testCtx(t)

	down := closedURL(t)
	c, err := mqtt.Dial(ctx, down, &mqtt.DialOptions{ClientID: "failover", Servers: []string{refusing.URL, good.URL}})
	if err != nil {
		t.Fatalf("Dial: %v, want the third server", err)
	}
	c.Close()
	if _, err := good.WaitPacket(ctx, func(r mqtttest.Record) bool {
		return r.ClientID == "failover" && r.Packet.Type() == wire.CONNACK
	}); err != nil {
		t.Errorf("the good server saw no connection: %v", err)
	}
	if _, err := refusing.WaitPacket(ctx, func(r mqtttest.Record) bool {
		return r.ClientID == "failover" && r.Packet.Type() == wire.CONNECT
	}); err != nil {
		t.Errorf("the refusing server was not tried: %v", err)
	}

	_, err = mqtt.Dial(ctx, down, &mqtt.DialOptions{Servers: []string{refusing.URL}})
	var ce *mqtt.ConnectError
	if !errors.As(err, &ce) || ce.ReasonCode != wire.NotAuthorized || !strings.Contains(err.Error(), strings.TrimPrefix(down, "mqtt://")) {
		t.Fatalf("Dial with every server failing: %v, want both failures, the refusal a *ConnectError", err)
	}
}
