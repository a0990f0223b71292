package mqtt

// Internal tests of url.go (parseURL); the external ones are in url_test.go.

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url string
		want      target
	}{
		{"mqtt default port", "mqtt://broker", target{raw: "mqtt://broker", url: "mqtt://broker", scheme: "tcp", host: "broker:1883"}},
		{"tcp", "tcp://broker:1999", target{raw: "tcp://broker:1999", url: "tcp://broker:1999", scheme: "tcp", host: "broker:1999"}},
		{"mqtts", "mqtts://broker", target{raw: "mqtts://broker", url: "mqtts://broker", scheme: "tls", host: "broker:8883"}},
		{"ssl", "ssl://broker", target{raw: "ssl://broker", url: "ssl://broker", scheme: "tls", host: "broker:8883"}},
		{"tls", "tls://broker:1", target{raw: "tls://broker:1", url: "tls://broker:1", scheme: "tls", host: "broker:1"}},
		{"ws default path", "ws://broker", target{raw: "ws://broker", url: "ws://broker", scheme: "ws", host: "broker:80", wsURL: "ws://broker:80/mqtt"}},
		{"wss path and query: raw without the query", "wss://broker/x/y?token=1", target{raw: "wss://broker/x/y", url: "wss://broker/x/y?token=1", scheme: "wss", host: "broker:443", wsURL: "wss://broker:443/x/y?token=1"}},
		{"wxs is wss", "wxs://broker", target{raw: "wxs://broker", url: "wxs://broker", scheme: "wss", host: "broker:443", wsURL: "wss://broker:443/mqtt"}},
		{"alis is wss", "alis://broker", target{raw: "alis://broker", url: "alis://broker", scheme: "wss", host: "broker:443", wsURL: "wss://broker:443/mqtt"}},
		{"ipv6", "mqtt://[::1]:1884", target{raw: "mqtt://[::1]:1884", url: "mqtt://[::1]:1884", scheme: "tcp", host: "[::1]:1884"}},
		{"user info", "mqtt://alice:s3cret@broker", target{raw: "mqtt://broker", url: "mqtt://broker", scheme: "tcp", host: "broker:1883", username: "alice", password: []byte("s3cret"), hasUser: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, *got, cmp.AllowUnexported(target{})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// A bad URL is an error before any network traffic, and the error never
// shows the password.
func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://broker", "mqtt://", "mqtt://broker:99999", "mqtt://alice:s3cret@broker:x", "::"} {
		dialed := false
		_, err := Dial(context.Background(), u, &DialOptions{Dialer: func(context.Context, string, string) (net.Conn, error) {
			dialed = true
			return nil, nil
		}})
		if err == nil {
			t.Errorf("%q: no error", u)
			continue
		}
		if dialed {
			t.Errorf("%q: dialed before rejecting the URL", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", u, err)
		}
	}
}
