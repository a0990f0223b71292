//go:build linux

package mqtt

// Suite: TCP keep-alive on Linux.

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
)

// TCP keep-alive stays on whatever MQTT's keep alive is: it is the last
// line of defence against a silent peer, and the only one when the server
// turns MQTT's off with a Server Keep Alive of 0 (MQTT-3.1.2-21,
// MQTT-3.2.2-21: the client then sends no PINGREQ at all).
func TestTCPKeepAliveAlwaysOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		server    []mqtttest.Option
	}{
		{"default keep alive", 0, nil},
		{"keep alive set", 5 * time.Second, nil},
		{"keep alive off", -1, nil},
		{"server keep alive 0", 5 * time.Second, []mqtttest.Option{mqtttest.ServerKeepAlive(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mqtttest.NewServer(tc.server...)
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, srv.URL, &DialOptions{Version: V5, KeepAlive: tc.keepAlive})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cn := c.cn.Load()
			if tc.server != nil && cn.keepAlive != 0 {
				t.Fatalf("the client runs MQTT keep alive %v, want the server's 0", cn.keepAlive)
			}
			q, ok := cn.conn.(*quickAckConn)
			if !ok {
				t.Fatalf("the connection is a %T, not a TCP socket", cn.conn)
			}
			sockopt := func(level, opt int) int {
				t.Helper()
				var v int
				var gerr error
				if err := q.rawConn().Control(func(fd uintptr) {
					v, gerr = syscall.GetsockoptInt(int(fd), level, opt)
				}); err != nil {
					t.Fatal(err)
				}
				if gerr != nil {
					t.Fatal(gerr)
				}
				return v
			}
			if sockopt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
				t.Error("SO_KEEPALIVE is off")
			}
			for _, o := range []struct {
				name      string
				opt, want int
			}{
				{"TCP_KEEPIDLE", syscall.TCP_KEEPIDLE, 30},
				{"TCP_KEEPINTVL", syscall.TCP_KEEPINTVL, 15},
				{"TCP_KEEPCNT", syscall.TCP_KEEPCNT, 4},
			} {
				if v := sockopt(syscall.IPPROTO_TCP, o.opt); v != o.want {
					t.Errorf("%s = %d, want %d", o.name, v, o.want)
				}
			}
		})
	}
}
