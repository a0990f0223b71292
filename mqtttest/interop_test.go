package mqtttest_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

// These tests run mosquitto_pub and mosquitto_sub against the server: real
// clients, built by other people from the same specification.

// hostPort returns the -h and -p arguments for the server.
func hostPort(t *testing.T, srv *mqtttest.Server) []string {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "mqtt://"))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"-h", host, "-p", port}
}

// mosquittoVersions maps the -V argument of the mosquitto clients to the
// version they speak.
var mosquittoVersions = []struct {
	arg string
	v   wire.Version
}{
	{"mqttv311", wire.V311},
	{"mqttv5", wire.V5},
}

// startSub runs mosquitto_sub with args and waits until the server has
// answered its SUBSCRIBE.
func startSub(t *testing.T, srv *mqtttest.Server, id string, args ...string) *mosquitto.SubProcess {
	t.Helper()
	mosquitto.Require(t, "mosquitto_sub")
	sub := mosquitto.Sub(t, append(append(hostPort(t, srv), "-i", id), args...)...)
	_, err := srv.WaitPacket(testContext(t), func(r mqtttest.Record) bool {
		return r.ClientID == id && r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.SUBACK
	})
	if err != nil {
		t.Fatalf("mosquitto_sub %s: %v (stderr: %s)", id, err, sub.Stderr())
	}
	return sub
}

func pub(t *testing.T, srv *mqtttest.Server, args ...string) {
	t.Helper()
	if err := mosquitto.Pub(t, append(hostPort(t, srv), args...)...); err != nil {
		t.Fatal(err)
	}
}

// TestMosquittoClients sends a message from mosquitto_pub to mosquitto_sub
// at each QoS, with 3.1.1 and 5.0.
func TestMosquittoClients(t *testing.T) {
	t.Parallel()
	mosquitto.Require(t, "mosquitto_pub")
	srv := newServer(t)
	for _, mv := range mosquittoVersions {
		for q := range 3 {
			t.Run(fmt.Sprintf("%s/qos%d", mv.arg, q), func(t *testing.T) {
				t.Parallel()
				qos := fmt.Sprint(q)
				topic := fmt.Sprintf("interop/%s/%d", mv.arg, q)
				id := fmt.Sprintf("sub-%s-%d", mv.arg, q)
				sub := startSub(t, srv, id, "-V", mv.arg, "-q", qos, "-t", topic, "-C", "1", "-F", "%q %r %t %p")
				payload := "hello " + topic
				pub(t, srv, "-V", mv.arg, "-q", qos, "-i", "pub-"+id, "-t", topic, "-m", payload)
				line, err := sub.Next(timeout)
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("%d 0 %s %s", q, topic, payload); line != want {
					t.Errorf("mosquitto_sub printed %q, want %q", line, want)
				}
				// The server saw the whole exchange of the QoS, in the
				// client's version.
				_, err = srv.WaitPacket(testContext(t), func(r mqtttest.Record) bool {
					return r.ClientID == "pub-"+id && r.Packet.Type() == wire.DISCONNECT
				})
				if err != nil {
					t.Fatal(err)
				}
				var types []string
				for _, r := range srv.Packets() {
					if r.ClientID == "pub-"+id {
						types = append(types, r.Dir.String()[:2]+" "+r.Packet.Type().String())
					}
				}
				want := map[int]string{
					0: "fr CONNECT,to CONNACK,fr PUBLISH,fr DISCONNECT",
					1: "fr CONNECT,to CONNACK,fr PUBLISH,to PUBACK,fr DISCONNECT",
					2: "fr CONNECT,to CONNACK,fr PUBLISH,to PUBREC,fr PUBREL,to PUBCOMP,fr DISCONNECT",
				}[q]
				if got := strings.Join(types, ","); got != want {
					t.Errorf("mosquitto_pub's packets: %s\nwant %s", got, want)
				}
				for _, r := range srv.Packets() {
					if c, ok := r.Packet.(*wire.Connect); ok && r.ClientID == "pub-"+id && c.Version != mv.v {
						t.Errorf("mosquitto_pub connected with %v", c.Version)
					}
				}
			})
		}
	}
}

// TestMosquittoRetainedAndWill: a retained message from mosquitto_pub
// reaches a later mosquitto_sub with the retain flag, and the will of a
// mosquitto_sub the server drops reaches another.
func TestMosquittoRetainedAndWill(t *testing.T) {
	t.Parallel()
	mosquitto.Require(t, "mosquitto_pub")
	for _, mv := range mosquittoVersions {
		t.Run(mv.arg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			pub(t, srv, "-V", mv.arg, "-q", "1", "-r", "-t", "retained/topic", "-m", "kept")
			sub := startSub(t, srv, "reader", "-V", mv.arg, "-q", "1", "-t", "retained/#", "-C", "1", "-F", "%r %t %p")
			line, err := sub.Next(timeout)
			if err != nil {
				t.Fatal(err)
			}
			if want := "1 retained/topic kept"; line != want {
				t.Errorf("retained: mosquitto_sub printed %q, want %q", line, want)
			}

			watcher := startSub(t, srv, "watcher", "-V", mv.arg, "-q", "1", "-t", "wills/#", "-F", "%r %t %p")
			startSub(t, srv, "mortal", "-V", mv.arg, "-t", "nothing",
				"--will-topic", "wills/mortal", "--will-payload", "gone", "--will-qos", "1")
			conn, err := srv.Conn(testContext(t), "mortal")
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			line, err = watcher.Next(timeout)
			if err != nil {
				t.Fatal(err)
			}
			if want := "0 wills/mortal gone"; line != want {
				t.Errorf("will: mosquitto_sub printed %q, want %q", line, want)
			}
		})
	}
}
