package mqtttest_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// BenchmarkPump pumps messages with 64-byte payloads from one raw-socket
// publisher to one raw-socket subscriber through a broker: mqtttest (with
// and without recording packets) and a mosquitto it starts. QoS 0 keeps at
// most 1024 messages between publisher and subscriber; QoS 1 keeps 64
// PUBLISH packets unacknowledged, and the subscriber's Receive Maximum is
// 64 too. Both clients read in large chunks and write each batch at once,
// so the broker is what is measured.
func BenchmarkPump(b *testing.B) {
	brokers := []struct {
		name  string
		start func(b *testing.B) string // returns host:port
	}{
		{"mqtttest", func(b *testing.B) string {
			srv := mqtttest.NewServer()
			b.Cleanup(srv.Close)
			return strings.TrimPrefix(srv.URL, "mqtt://")
		}},
		{"mqtttest-norecord", func(b *testing.B) string {
			srv := mqtttest.NewServer(mqtttest.RecordLimit(0))
			b.Cleanup(srv.Close)
			return strings.TrimPrefix(srv.URL, "mqtt://")
		}},
		{"mosquitto", startQuietMosquitto},
	}
	for _, br := range brokers {
		for _, qos := range []byte{0, 1} {
			b.Run(fmt.Sprintf("%s/qos%d", br.name, qos), func(b *testing.B) {
				addr := br.start(b)
				pump(b, addr, qos)
			})
		}
	}
}

// startQuietMosquitto runs mosquitto, as packaged, without logging, and
// returns its address. mosquitto.Start configures log_type all, which makes
// mosquitto log every packet and costs it about 40 % of its throughput
// here; no configuration line can take that back ("log_type none" silences
// the line Start waits for), so the benchmark starts its own.
func startQuietMosquitto(b *testing.B) string {
	bin := mosquitto.Require(b, "mosquitto")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := "allow_anonymous true\npersistence false\nlog_dest none\nlistener " + port + " 127.0.0.1\n"
	if os.Geteuid() == 0 {
		conf = "user root\n" + conf // mosquitto 2 would switch to the mosquitto user
	}
	path := filepath.Join(b.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	b.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			b.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("mosquitto not listening on %s: %s", addr, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchConn is a raw MQTT 5.0 connection for the benchmark.
type benchConn struct {
	nc net.Conn
	r  *wire.Reader
}

func benchConnect(b *testing.B, addr, id string, props *wire.Properties) *benchConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(2 * time.Minute)) // fail rather than hang
	c := &benchConn{nc: nc, r: wire.NewReader(nc, 256<<10)}
	buf, _ := (&wire.Connect{ClientID: id, CleanStart: true, Properties: props}).Append(nil, wire.V5)
	if _, err := nc.Write(buf); err != nil {
		b.Fatal(err)
	}
	if p, err := c.r.ReadPacket(wire.V5); err != nil || p.(*wire.Connack).ReasonCode != 0 {
		b.Fatalf("CONNECT: %v %v", p, err)
	}
	return c
}

var benchRun atomic.Int64

func pump(b *testing.B, addr string, qos byte) {
	run := benchRun.Add(1)
	sub := benchConnect(b, addr, fmt.Sprint("bench-sub-", run), &wire.Properties{ReceiveMaximum: 64})
	defer sub.nc.Close()
	topic := fmt.Sprint("bench/", run)
	buf, _ := (&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: topic, QoS: qos}}}).Append(nil, wire.V5)
	sub.nc.Write(buf)
	if p, err := sub.r.ReadPacket(wire.V5); err != nil || p.Type() != wire.SUBACK {
		b.Fatalf("SUBSCRIBE: %v %v", p, err)
	}
	pub := benchConnect(b, addr, fmt.Sprint("bench-pub-", run), nil)
	defer pub.nc.Close()

	// The PUBLISH packet, with the offset of its packet identifier.
	msg := &wire.Publish{Topic: topic, QoS: qos, Payload: make([]byte, 64)}
	if qos > 0 {
		msg.PacketID = 1
	}
	packet, _ := msg.Append(nil, wire.V5)
	idAt := len(packet) - len(msg.Payload) - 1 - 2 // before the property length

	n := b.N
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	subDone := make(chan error, 1)
	b.SetBytes(int64(len(msg.Payload)))
	b.ReportAllocs()
	b.ResetTimer()

	go func() { subDone <- subscriber(sub, n, &received, progress) }()

	var err error
	if qos == 0 {
		err = publishQoS0(pub, packet, n, &received, progress)
	} else {
		err = publishQoS1(pub, packet, idAt, n)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := <-subDone; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// subscriber reads n messages, acknowledging QoS 1 ones a read's worth at
// a time.
func subscriber(c *benchConn, n int, received *atomic.Int64, progress chan struct{}) error {
	var acks []byte
	count := 0
	for count < n {
		h, body, err := c.r.Next()
		if err != nil {
			return fmt.Errorf("subscriber after %d messages: %w", count, err)
		}
		if h.Type != wire.PUBLISH {
			return fmt.Errorf("subscriber got %v", h.Type)
		}
		count++
		if h.Flags>>1&3 == 1 {
			at := 2 + (int(body[0])<<8 | int(body[1]))
			acks = append(acks, byte(wire.PUBACK)<<4, 2, body[at], body[at+1])
		}
		if c.r.Buffered() == 0 || count == n {
			if len(acks) > 0 {
				if _, err := c.nc.Write(acks); err != nil {
					return err
				}
				acks = acks[:0]
			}
			received.Store(int64(count))
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// publishQoS0 writes n messages in batches of 64, staying at most 1024
// ahead of the subscriber.
func publishQoS0(c *benchConn, packet []byte, n int, received *atomic.Int64, progress chan struct{}) error {
	batch := make([]byte, 0, 64*len(packet))
	for sent := 0; sent < n; {
		for sent-int(received.Load()) >= 1024 {
			<-progress
		}
		batch = batch[:0]
		for k := 0; k < 64 && sent < n; k++ {
			batch = append(batch, packet...)
			sent++
		}
		if _, err := c.nc.Write(batch); err != nil {
			return err
		}
	}
	return nil
}

// publishQoS1 writes n messages with at most 64 unacknowledged, writing
// every packet identifier that is free in one batch.
func publishQoS1(c *benchConn, packet []byte, idAt, n int) error {
	free := make(chan uint16, 64)
	for id := uint16(1); id <= 64; id++ {
		free <- id
	}
	ackErr := make(chan error, 1)
	go func() {
		for acked := 0; acked < n; acked++ {
			h, body, err := c.r.Next()
			if err != nil {
				ackErr <- err
				return
			}
			if h.Type != wire.PUBACK {
				ackErr <- fmt.Errorf("publisher got %v", h.Type)
				return
			}
			if len(body) > 2 && body[2] >= 0x80 {
				ackErr <- fmt.Errorf("PUBACK %#x", body[2])
				return
			}
			free <- uint16(body[0])<<8 | uint16(body[1])
		}
		ackErr <- nil
	}()
	batch := make([]byte, 0, 64*len(packet))
	add := func(id uint16) {
		batch = append(batch, packet...)
		p := batch[len(batch)-len(packet):]
		p[idAt], p[idAt+1] = byte(id>>8), byte(id)
	}
	for sent := 0; sent < n; {
		batch = batch[:0]
		select {
		case id := <-free:
			add(id)
			sent++
		case err := <-ackErr:
			return errors.Join(errors.New("publisher: acknowledgements ended early"), err)
		}
	more:
		for sent < n {
			select {
			case id := <-free:
				add(id)
				sent++
			default:
				break more
			}
		}
		if _, err := c.nc.Write(batch); err != nil {
			return err
		}
	}
	return <-ackErr
}

// BenchmarkFanOut publishes one message through Server.Publish to a server
// with n in-memory subscribers (Server.Dial), each subscribed to a topic of
// its own, "dev/<i>/in", and to the filter "news/#" that they all share.
// "all" publishes to "news/today", which every subscriber receives; "one"
// publishes to "dev/<n/2>/in", which matches one subscription among 2n.
// An operation lasts until every matching subscriber has read the message;
// route-ns/op is the part spent in Publish, under the server's lock:
// matching, and queueing one PUBLISH per receiver for its writer.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			srv := mqtttest.NewUnstartedServer(mqtttest.RecordLimit(0))
			b.Cleanup(srv.Close)
			var got atomic.Int64
			arrived := make(chan struct{}, 1)
			for i := range n {
				fanOutSubscriber(b, srv, i, &got, arrived)
			}
			cases := []struct {
				name  string
				topic string
				want  int64
			}{
				{"all", "news/today", int64(n)},
				{"one", fmt.Sprintf("dev/%d/in", n/2), 1},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					msg := &wire.Publish{Topic: c.topic, Payload: make([]byte, 64)}
					var inPublish time.Duration
					b.ReportAllocs()
					for b.Loop() {
						got.Store(0)
						start := time.Now()
						if err := srv.Publish(msg); err != nil {
							b.Fatal(err)
						}
						inPublish += time.Since(start)
						for got.Load() < c.want {
							<-arrived
						}
					}
					b.ReportMetric(float64(inPublish.Nanoseconds())/float64(b.N), "route-ns/op")
				})
			}
		})
	}
}

// fanOutSubscriber connects subscriber i of BenchmarkFanOut in memory and
// starts a goroutine that counts the messages it reads in got, signalling
// arrived after each, until the connection closes.
func fanOutSubscriber(b *testing.B, srv *mqtttest.Server, i int, got *atomic.Int64, arrived chan struct{}) {
	nc, err := srv.Dial(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	r := wire.NewReader(nc, 0)
	send := func(p wire.Packet) {
		buf, _ := p.Append(nil, wire.V5)
		if _, err := nc.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	send(&wire.Connect{ClientID: fmt.Sprint("fan-", i), CleanStart: true})
	if p, err := r.ReadPacket(wire.V5); err != nil || p.(*wire.Connack).ReasonCode != 0 {
		b.Fatalf("CONNECT: %v %v", p, err)
	}
	send(&wire.Subscribe{PacketID: 1, Filters: []wire.Filter{{Topic: fmt.Sprintf("dev/%d/in", i)}, {Topic: "news/#"}}})
	if p, err := r.ReadPacket(wire.V5); err != nil || p.Type() != wire.SUBACK {
		b.Fatalf("SUBSCRIBE: %v %v", p, err)
	}
	go func() {
		for {
			h, _, err := r.Next()
			if err != nil {
				return
			}
			if h.Type == wire.PUBLISH {
				got.Add(1)
				select {
				case arrived <- struct{}{}:
				default:
				}
			}
		}
	}()
}
