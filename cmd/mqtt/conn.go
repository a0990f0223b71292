package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/culex-mqtt/mqtt"
)

// connFlags are the flags that say where and how to connect, shared by every
// command.
type connFlags struct {
	host      string
	port      int
	protocol  string
	url       string
	clientID  string
	username  string
	password  string
	version   string
	keepAlive int // seconds; 0: off
	insecure  bool
	caFile    string
	certFile  string
	keyFile   string
	timeout   duration

	// The will, for pub and sub only (see addWill).
	willTopic   string
	willMessage string
	willQoS     int
	willRetain  bool
}

// connUsage documents the flags of addConnFlags, for the commands' help.
const connUsage = `connection:
  -h, --host HOST          broker host (default localhost)
  -p, --port PORT          broker port (default: 1883 mqtt, 8883 mqtts, 80 ws, 443 wss)
  -l, --protocol PROTO     mqtt, mqtts, ws or wss (default mqtt)
  -U, --url URL            the broker's URL, e.g. mqtts://user:pass@host:8883 or
                           ws://host/mqtt; overrides -h, -p and -l, and its
                           user info overrides -u and -P
  -i, --id ID              client identifier (default: generated)
  -u, --username USER      user name
  -P, --password PASS      password
  -V, --protocol-version V MQTT version: 3.1, 3.1.1 or 5 (also 3, 4, 5);
                           default: 5, falling back to 3.1.1 if the broker refuses 5
  -k, --keepalive SECONDS  keep alive interval; 0 turns it off (default 60)
      --connect-timeout D  give up connecting after D (default 30s)
      --cafile FILE        PEM file of the CAs to trust, for mqtts and wss
      --cert FILE          PEM client certificate, with --key
      --key FILE           PEM private key of --cert
      --insecure           do not verify the broker's TLS certificate
`

// willUsage documents the flags of addWill.
const willUsage = `will (published by the broker if the connection is lost):
      --will-topic TOPIC   the will's topic
      --will-message MSG   the will's payload
      --will-qos QOS       the will's QoS (default 0)
      --will-retain        retain the will
`

// addConnFlags defines the connection flags on fs.
func addConnFlags(fs *flag.FlagSet) *connFlags {
	f := &connFlags{timeout: duration(30 * time.Second)}
	for _, n := range []string{"h", "host"} {
		fs.StringVar(&f.host, n, "localhost", "")
	}
	for _, n := range []string{"p", "port"} {
		fs.IntVar(&f.port, n, 0, "")
	}
	for _, n := range []string{"l", "protocol"} {
		fs.StringVar(&f.protocol, n, "mqtt", "")
	}
	for _, n := range []string{"U", "url"} {
		fs.StringVar(&f.url, n, "", "")
	}
	for _, n := range []string{"i", "id"} {
		fs.StringVar(&f.clientID, n, "", "")
	}
	for _, n := range []string{"u", "username"} {
		fs.StringVar(&f.username, n, "", "")
	}
	for _, n := range []string{"P", "password"} {
		fs.StringVar(&f.password, n, "", "")
	}
	for _, n := range []string{"V", "protocol-version"} {
		fs.StringVar(&f.version, n, "", "")
	}
	for _, n := range []string{"k", "keepalive"} {
		fs.IntVar(&f.keepAlive, n, 60, "")
	}
	fs.Var(&f.timeout, "connect-timeout", "")
	fs.BoolVar(&f.insecure, "insecure", false, "")
	fs.StringVar(&f.caFile, "cafile", "", "")
	fs.StringVar(&f.certFile, "cert", "", "")
	fs.StringVar(&f.keyFile, "key", "", "")
	return f
}

// addWill defines the will flags on fs, into f.
func (f *connFlags) addWill(fs *flag.FlagSet) {
	fs.StringVar(&f.willTopic, "will-topic", "", "")
	fs.StringVar(&f.willMessage, "will-message", "", "")
	fs.IntVar(&f.willQoS, "will-qos", 0, "")
	fs.BoolVar(&f.willRetain, "will-retain", false, "")
}

// serverURL returns the URL to dial: -U as given, or one made of -l, -h
// and -p. A port of 0 is left out so that Dial picks the scheme's default.
func (f *connFlags) serverURL() (string, error) {
	if f.url != "" {
		return f.url, nil
	}
	switch f.protocol {
	case "mqtt", "mqtts", "ws", "wss", "tcp", "tls", "ssl":
	default:
		return "", usagef("-l %q is not a protocol; use mqtt, mqtts, ws or wss", f.protocol)
	}
	if f.host == "" {
		return "", usagef("-h needs a host name")
	}
	if f.port < 0 || f.port > 65535 {
		return "", usagef("-p %d is not a port number", f.port)
	}
	host := f.host
	if f.port != 0 {
		host = net.JoinHostPort(host, strconv.Itoa(f.port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 address without a port
	}
	u := url.URL{Scheme: f.protocol, Host: host}
	return u.String(), nil
}

// options returns the DialOptions the flags describe, with clientID in place
// of -i. Each call returns a new struct.
func (f *connFlags) options(rawURL, clientID string) (*mqtt.DialOptions, error) {
	o := &mqtt.DialOptions{
		ClientID: clientID,
		Username: f.username,
	}
	if f.password != "" {
		o.Password = []byte(f.password)
	}
	v, err := parseVersion(f.version)
	if err != nil {
		return nil, err
	}
	o.Version = v
	switch {
	case f.keepAlive < 0 || f.keepAlive > 65535:
		return nil, usagef("-k %d is not a keep alive; use 0 (off) to 65535 seconds", f.keepAlive)
	case f.keepAlive == 0:
		o.KeepAlive = -1 // the library's "off"; its 0 means the default
	default:
		o.KeepAlive = time.Duration(f.keepAlive) * time.Second
	}
	if f.timeout <= 0 {
		return nil, usagef("--connect-timeout must be positive")
	}
	o.ConnectTimeout = time.Duration(f.timeout)
	// A lost connection fails the command: pub and bench are short, and
	// a command that waits for a broker that never comes back looks
	// hung. sub, which runs until stopped, turns reconnection back on.
	o.NoReconnect = true

	if f.willTopic != "" {
		if f.willQoS < 0 || f.willQoS > 2 {
			return nil, usagef("--will-qos %d is not 0, 1 or 2", f.willQoS)
		}
		o.Will = &mqtt.Message{
			Topic:   f.willTopic,
			Payload: []byte(f.willMessage),
			QoS:     mqtt.QoS(f.willQoS),
			Retain:  f.willRetain,
		}
	} else if f.willMessage != "" || f.willQoS != 0 || f.willRetain {
		return nil, usagef("--will-message, --will-qos and --will-retain need --will-topic")
	}

	tc, err := f.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		u, err := url.Parse(rawURL)
		if err == nil {
			switch strings.ToLower(u.Scheme) {
			case "mqtt", "tcp", "ws":
				// Silently ignoring --cafile would let a user believe
				// the connection is encrypted.
				return nil, usagef("--cafile, --cert, --key and --insecure need a TLS protocol (mqtts or wss), not %s", u.Scheme)
			}
		}
		o.TLSConfig = tc
	}
	return o, nil
}

// tlsConfig returns the TLS configuration of --cafile, --cert, --key and
// --insecure, or nil when none is set, so that the library verifies against
// the system's roots.
func (f *connFlags) tlsConfig() (*tls.Config, error) {
	if f.caFile == "" && f.certFile == "" && f.keyFile == "" && !f.insecure {
		return nil, nil
	}
	tc := &tls.Config{InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--cafile: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cafile %s: no PEM certificate in it", f.caFile)
		}
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, usagef("--cert and --key go together")
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert and --key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// parseVersion reads -V. It accepts the names people write (3.1.1) and the
// protocol levels MQTT.js takes (4).
func parseVersion(s string) (mqtt.Version, error) {
	switch s {
	case "":
		return 0, nil
	case "3.1", "3", "31":
		return mqtt.V31, nil
	case "3.1.1", "4", "311":
		return mqtt.V311, nil
	case "5", "5.0", "50":
		return mqtt.V5, nil
	}
	return 0, usagef("-V %q is not an MQTT version; use 3.1, 3.1.1 or 5", s)
}

// prepare checks the flags and returns the URL and options to dial, with
// clientID in place of -i (bench connects two clients). Commands call it
// before they read input or connect, so that a mistake costs nothing.
func (f *connFlags) prepare(clientID string) (string, *mqtt.DialOptions, error) {
	rawURL, err := f.serverURL()
	if err != nil {
		return "", nil, err
	}
	opts, err := f.options(rawURL, clientID)
	if err != nil {
		return "", nil, err
	}
	return rawURL, opts, nil
}

// dial connects to rawURL. A connection attempt that runs out of
// --connect-timeout says which flag to change.
func (f *connFlags) dial(ctx context.Context, rawURL string, opts *mqtt.DialOptions) (*mqtt.Client, error) {
	c, err := mqtt.Dial(ctx, rawURL, opts)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("no connection within %v (--connect-timeout): %w", time.Duration(f.timeout), err)
	}
	return c, err
}

// disconnectTimeout bounds the graceful DISCONNECT at the end of a command.
// It waits for acknowledgements still in flight, which a broker that went
// silent would never send.
const disconnectTimeout = 5 * time.Second

// disconnect ends c gracefully, so that the broker discards the will, even
// when ctx has ended (the user pressed ^C): that is when a clean exit
// matters.
func disconnect(ctx context.Context, c *mqtt.Client) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disconnectTimeout)
	defer cancel()
	return c.Disconnect(ctx)
}

// checkQoS validates a -q flag's value.
func checkQoS(flagName string, q int) (mqtt.QoS, error) {
	if q < 0 || q > 2 {
		return 0, usagef("%s %d is not a QoS; use 0, 1 or 2", flagName, q)
	}
	return mqtt.QoS(q), nil
}

// duration is a flag.Value for a time span: a Go duration ("1m30s") or a
// plain number of seconds, as mosquitto's -W takes.
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }

func (d *duration) Set(s string) error {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*d = duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 10s or 1m", s)
	}
	*d = duration(v)
	return nil
}

// stringList is a flag.Value for a flag that may be repeated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// lockedWriter serializes writes to w: the client's callbacks run on its own
// goroutines and may report while the command writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
