package mqtttest_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// emfileListener fails its first accepts the way a process out of file
// descriptors does.
type emfileListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: fmt.Errorf("accept4: %w", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// A server that ran out of file descriptors goes on accepting once it has
// them again, instead of leaving every later client to time out.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	el := &emfileListener{Listener: ln}
	el.failures.Store(5)
	srv := mqtttest.NewUnstartedServer()
	srv.Listener = el
	srv.Start()
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := (&wire.Connect{ClientID: "c", CleanStart: true, Version: wire.V5}).Append(nil, wire.V5)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	pkt, err := wire.NewReader(c, 0).ReadPacket(wire.V5)
	if err != nil {
		t.Fatalf("no CONNACK after the accept errors: %v", err)
	}
	if _, ok := pkt.(*wire.Connack); !ok {
		t.Fatalf("got %v, want CONNACK", pkt.Type())
	}
}
