package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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
	"github.com/culex-mqtt/mqtt/wire"
)

// connFlags are the flags that say where and how to connect, shared by every
// command.
type connFlags struct {
	host      string
	port      int
	protocol  string
	urls      stringList
	unix      string
	clientID  string
	idPrefix  string
	username  string
	password  string
	pwFile    string
	pwEnv     string
	version   string
	keepAlive int // seconds; 0: off
	timeout   duration
	nodelay   bool
	insecure  bool
	caFile    string
	certFile  string
	keyFile   string
	debug     bool
	quiet     bool

	// Session flags, for pub, sub and req (see connKinds.session).
	keepSession bool
	expiry      string // -x as given; "" when not

	// The will, for pub, sub and req (see connKinds.will).
	willTopic   string
	willPayload string
	willQoS     int
	willRetain  bool

	// props holds -D; nil for bench.
	props *propFlags

	fs *flagSet

	// What resolve worked out.
	primary    string   // the URL to dial
	servers    []string // more URLs to try, in order
	urlTopics  []string // topics named by the paths of mqtt:// URLs (mosquitto's -L)
	pw         []byte
	ver        mqtt.Version
	tlsConfig  *tls.Config
	sessionExp time.Duration
	will       *mqtt.Message
}

// connKinds says which optional groups of connection flags a command has.
type connKinds struct {
	session bool // -c and -x: a command that may resume a session
	will    bool // --will-*: a command whose connection may outlive a moment
}

// addConnFlags defines the connection flags on s.
func addConnFlags(s *flagSet, k connKinds, props *propFlags) *connFlags {
	f := &connFlags{timeout: duration(30 * time.Second), host: "localhost", protocol: "mqtt", keepAlive: 60, props: props, fs: s}
	s.group("connection")
	s.stringVar(&f.host, flagSpec{names: []string{"h", "host", "hostname"}, arg: "HOST", origin: bothFlag,
		help: "the broker's host (default localhost)"})
	s.intVar(&f.port, flagSpec{names: []string{"p", "port"}, arg: "PORT", origin: bothFlag,
		help: "the broker's port (default: 1883 mqtt, 8883 mqtts, 80 ws, 443 wss)"})
	s.stringVar(&f.protocol, flagSpec{names: []string{"protocol"}, arg: "PROTO", origin: mqttjsFlag,
		help: "mqtt, mqtts, ws or wss (default mqtt). MQTT.js also calls it -C and -l, " +
			"which mosquitto uses for other things (-C the count of mosquitto_sub, -l the lines of mosquitto_pub)"})
	s.define(&f.urls, flagSpec{names: []string{"L", "url"}, arg: "URL", origin: mosquittoFlag,
		help: "the broker's URL, such as mqtts://user:pass@host:8883/topic or ws://host:8080/mqtt; " +
			"overrides -h, -p and --protocol. The path of an mqtt:// or mqtts:// URL is a topic, " +
			"as in mosquitto (that of ws:// and wss:// is the WebSocket's). " +
			"Repeat -L for more brokers, tried in order at every connection"})
	s.stringVar(&f.unix, flagSpec{names: []string{"unix"}, arg: "PATH", origin: mosquittoFlag,
		help: "connect through the unix socket PATH instead of TCP"})
	s.stringVar(&f.clientID, flagSpec{names: []string{"i", "id", "client-id", "clientId"}, arg: "ID", origin: bothFlag,
		help: "the client identifier (default: generated)"})
	s.stringVar(&f.idPrefix, flagSpec{names: []string{"I", "id-prefix"}, arg: "PREFIX", origin: mosquittoFlag,
		help: "the client identifier is PREFIX followed by the process ID"})
	s.stringVar(&f.username, flagSpec{names: []string{"u", "username"}, arg: "USER", origin: bothFlag,
		help: "the user name"})
	s.stringVar(&f.password, flagSpec{names: []string{"P", "pw", "password"}, arg: "PASS", origin: bothFlag,
		help: "the password; other users of the machine can read it in the process list, " +
			"which --password-file and --password-env avoid"})
	s.stringVar(&f.pwFile, flagSpec{names: []string{"password-file"}, arg: "FILE",
		help: "read the password from FILE (without the line ending that ends the file)"})
	s.stringVar(&f.pwEnv, flagSpec{names: []string{"password-env"}, arg: "NAME",
		help: "read the password from the environment variable NAME"})
	s.stringVar(&f.version, flagSpec{names: []string{"V", "protocol-version"}, arg: "V", origin: mosquittoFlag,
		help: "the MQTT version: 5, 3.1.1 or 3.1 (also mqttv5, mqttv311, mqttv31, 4, 3). " +
			"Default: 5, falling back to 3.1.1 if the broker refuses 5"})
	s.intVar(&f.keepAlive, flagSpec{names: []string{"k", "keepalive"}, arg: "SECONDS", origin: bothFlag,
		help: "the keep alive interval; 0 turns it off (default 60)"})
	s.define(&f.timeout, flagSpec{names: []string{"connect-timeout"}, arg: "D",
		help: "give up connecting to a broker after D (default 30s)"})
	s.boolVar(&f.nodelay, flagSpec{names: []string{"nodelay"}, origin: mosquittoFlag,
		help: "accepted for mosquitto's sake: mqtt always disables Nagle's algorithm"})
	if k.session {
		s.boolVar(&f.keepSession, flagSpec{names: []string{"c", "disable-clean-session", "no-clean", "keep-session"}, origin: mosquittoFlag,
			help: "resume the broker's session for -i and keep it after disconnecting; needs -i. " +
				"(MQTT.js's --no-clean; its -c, --clean, is the default here)"})
		s.stringVar(&f.expiry, flagSpec{names: []string{"x", "session-expiry"}, arg: "SECONDS", origin: mosquittoFlag,
			help: "MQTT 5.0, with -c: the broker keeps the session SECONDS after the connection ends; " +
				"-1 or ∞ for ever (the default with -c)"})
	}

	s.group("TLS (for mqtts and wss)")
	s.stringVar(&f.caFile, flagSpec{names: []string{"cafile", "ca"}, arg: "FILE", origin: bothFlag,
		help: "PEM file of the certificate authorities to trust (default: the system's). " +
			"Without -L or --protocol, it (or --cert) means mqtts, as in mosquitto"})
	s.stringVar(&f.certFile, flagSpec{names: []string{"cert"}, arg: "FILE", origin: bothFlag,
		help: "PEM client certificate, with --key"})
	s.stringVar(&f.keyFile, flagSpec{names: []string{"key"}, arg: "FILE", origin: bothFlag,
		help: "PEM private key of --cert"})
	s.boolVar(&f.insecure, flagSpec{names: []string{"insecure"}, origin: bothFlag,
		help: "do not verify the broker's certificate: anyone on the way can read and change the traffic"})

	if k.will {
		s.group("will (published by the broker if the connection is lost)")
		s.stringVar(&f.willTopic, flagSpec{names: []string{"will-topic"}, arg: "TOPIC", origin: bothFlag,
			help: "the will's topic"})
		s.stringVar(&f.willPayload, flagSpec{names: []string{"will-payload", "will-message"}, arg: "MSG", origin: bothFlag,
			help: "the will's payload (default empty)"})
		s.intVar(&f.willQoS, flagSpec{names: []string{"will-qos"}, arg: "QOS", origin: bothFlag,
			help: "the will's QoS (default 0)"})
		s.boolVar(&f.willRetain, flagSpec{names: []string{"will-retain"}, origin: bothFlag,
			help: "retain the will"})
	}

	s.group("diagnostics")
	s.boolVar(&f.debug, flagSpec{names: []string{"d", "debug"}, origin: mosquittoFlag,
		help: "print each packet sent and received on standard error (never the password)"})
	s.boolVar(&f.quiet, flagSpec{names: []string{"quiet"}, origin: mosquittoFlag,
		help: "print no error messages; the exit status still tells"})
	return f
}

// resolve checks the connection flags and works out what they describe.
// Commands call it before they read input or connect, so that a mistake
// costs nothing.
func (f *connFlags) resolve(e *env) error {
	if f.quiet {
		e.quiet = true
	}
	if err := f.resolveURLs(); err != nil {
		return err
	}
	v, err := parseVersion(f.version)
	if err != nil {
		return err
	}
	f.ver = v
	if f.keepAlive < 0 || f.keepAlive > 65535 {
		return usagef("-k %d is not a keep alive; use 0 (off) to 65535 seconds", f.keepAlive)
	}
	if f.timeout <= 0 {
		return usagef("--connect-timeout must be positive")
	}
	if f.clientID != "" && f.idPrefix != "" {
		return usagef("-i and -I both name the client; use one")
	}
	if f.idPrefix != "" {
		f.clientID = f.idPrefix + strconv.Itoa(os.Getpid())
	}
	if err := f.resolvePassword(e); err != nil {
		return err
	}
	if err := f.resolveSession(); err != nil {
		return err
	}
	if err := f.resolveWill(); err != nil {
		return err
	}
	if f.props != nil && f.props.given && (v == mqtt.V31 || v == mqtt.V311) {
		return usagef("-D and the MQTT 5.0 property flags need MQTT 5.0, not -V %s", f.version)
	}
	return f.resolveTLS()
}

// resolveURLs works out the URLs to dial: -L as given, or one made of
// --protocol, -h and -p.
func (f *connFlags) resolveURLs() error {
	if len(f.urls) == 0 {
		u, err := f.hostURL()
		if err != nil {
			return err
		}
		f.primary = u
		return nil
	}
	var all []string
	for _, raw := range f.urls {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return usagef("-L %q is not a URL like mqtt://host:1883 or ws://host/mqtt", raw)
		}
		switch strings.ToLower(u.Scheme) {
		case "mqtt", "mqtts", "tcp", "tls", "ssl":
			// mosquitto's -L carries the topic in the path; the
			// library would ignore it.
			if t := strings.TrimPrefix(u.Path, "/"); t != "" {
				f.urlTopics = appendNew(f.urlTopics, t)
			}
			u.Path, u.RawPath = "", ""
		case "ws", "wss", "wxs", "alis":
		default:
			return usagef("-L %q: the scheme %q is not mqtt, mqtts, ws or wss", raw, u.Scheme)
		}
		all = append(all, u.String())
	}
	f.primary, f.servers = all[0], all[1:]
	return nil
}

// hostURL returns the URL made of --protocol, -h and -p. A port of 0 is left
// out so that Dial picks the scheme's default.
func (f *connFlags) hostURL() (string, error) {
	if !f.fs.isSet("protocol") && (f.caFile != "" || f.certFile != "") {
		// mosquitto_pub -h host --cafile ca.pem speaks TLS, and MQTT.js
		// does too with --key and --cert.
		f.protocol = "mqtts"
	}
	switch f.protocol {
	case "mqtt", "mqtts", "ws", "wss", "tcp", "tls", "ssl":
	default:
		return "", usagef("--protocol %q is not a protocol; use mqtt, mqtts, ws or wss", f.protocol)
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

// resolvePassword takes the password from -P, --password-file or
// --password-env.
func (f *connFlags) resolvePassword(e *env) error {
	n := btoi(f.fs.isSet("P")) + btoi(f.pwFile != "") + btoi(f.pwEnv != "")
	if n > 1 {
		return usagef("-P, --password-file and --password-env each give the password; use one")
	}
	switch {
	case f.fs.isSet("P"):
		f.pw = []byte(f.password)
	case f.pwFile != "":
		b, err := os.ReadFile(f.pwFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		// An editor or "echo" ends the file with a line ending that is
		// not part of the password.
		pw, _ := strings.CutSuffix(string(b), "\n")
		pw, _ = strings.CutSuffix(pw, "\r")
		f.pw = []byte(pw)
	case f.pwEnv != "":
		v, ok := e.lookupEnv(f.pwEnv)
		if !ok {
			return usagef("--password-env %s: the environment variable %s is not set", f.pwEnv, f.pwEnv)
		}
		f.pw = []byte(v)
	}
	return nil
}

// resolveSession checks -c and -x.
func (f *connFlags) resolveSession() error {
	exp := f.expiry
	if f.props != nil && f.props.sessionExpiryGiven {
		exp = f.props.sessionExpiry
	}
	if f.keepSession && f.clientID == "" {
		// A generated ID names a new session every time: there would
		// be nothing to resume.
		return usagef("-c needs -i: a kept session belongs to a client ID")
	}
	if exp == "" {
		return nil
	}
	if !f.keepSession {
		// The library keeps a session only with KeepSession; a clean
		// session that outlives the connection is not among its
		// options.
		return usagef("-x needs -c: without it the session ends with the connection")
	}
	switch exp {
	case "-1", "4294967295", "∞":
		return nil // the library's 0: for ever
	}
	n, err := strconv.ParseUint(exp, 10, 32)
	if err != nil || n == 0 {
		return usagef("-x %q: use 1 to 4294967294 seconds, or -1 for ever", exp)
	}
	f.sessionExp = time.Duration(n) * time.Second
	return nil
}

// resolveWill checks the will flags.
func (f *connFlags) resolveWill() error {
	if f.willTopic == "" {
		if f.fs.isSet("will-payload") || f.willQoS != 0 || f.willRetain || f.props != nil && willPropsGiven(f.props) {
			return usagef("--will-payload, --will-qos, --will-retain and -D will need --will-topic")
		}
		return nil
	}
	if err := wire.CheckTopicName(f.willTopic); err != nil {
		return usagef("--will-topic: %v", err)
	}
	q, err := checkQoS("--will-qos", f.willQoS)
	if err != nil {
		return err
	}
	f.will = &mqtt.Message{Topic: f.willTopic, Payload: []byte(f.willPayload), QoS: q, Retain: f.willRetain}
	if f.props != nil {
		w := &f.props.will
		f.will.ContentType, f.will.ResponseTopic, f.will.CorrelationData = w.ContentType, w.ResponseTopic, w.CorrelationData
		f.will.MessageExpiry, f.will.PayloadFormat, f.will.UserProperties = w.MessageExpiry, w.PayloadFormat, w.UserProperties
		if err := checkStrings("will", f.will); err != nil {
			return err
		}
	}
	return nil
}

func willPropsGiven(p *propFlags) bool {
	w := &p.will
	return w.ContentType != "" || w.ResponseTopic != "" || w.CorrelationData != nil || w.MessageExpiry != 0 ||
		w.PayloadFormat != 0 || len(w.UserProperties) > 0 || p.willDelay != 0
}

// resolveTLS builds the TLS configuration of --cafile, --cert, --key and
// --insecure, or leaves it nil when none is set, so that the library
// verifies against the system's roots.
func (f *connFlags) resolveTLS() error {
	if f.caFile == "" && f.certFile == "" && f.keyFile == "" && !f.insecure {
		return nil
	}
	for _, raw := range append([]string{f.primary}, f.servers...) {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		switch strings.ToLower(u.Scheme) {
		case "mqtt", "tcp", "ws":
			// Silently ignoring --cafile would let a user believe
			// the connection is encrypted.
			return usagef("--cafile, --cert, --key and --insecure need a TLS protocol (mqtts or wss), not %s", u.Scheme)
		}
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return usagef("--cert and --key go together")
	}
	tc := &tls.Config{InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return fmt.Errorf("--cafile: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--cafile %s: no PEM certificate in it", f.caFile)
		}
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return fmt.Errorf("--cert and --key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	f.tlsConfig = tc
	return nil
}

// options returns the DialOptions the flags describe, for the client named
// clientID (bench connects several); label tells its packets apart in the
// -d trace when there are several. Each call returns a new struct.
func (f *connFlags) options(e *env, clientID, label string) *mqtt.DialOptions {
	o := &mqtt.DialOptions{
		ClientID:       clientID,
		Username:       f.username,
		Password:       f.pw,
		Version:        f.ver,
		Servers:        f.servers,
		KeepSession:    f.keepSession,
		SessionExpiry:  f.sessionExp,
		Will:           f.will,
		ConnectTimeout: time.Duration(f.timeout),
		// A lost connection fails the command: pub, req and bench are
		// short, and a command that waits for a broker that never
		// comes back looks hung. sub, which runs until stopped, turns
		// reconnection back on.
		NoReconnect: true,
	}
	if f.keepAlive == 0 {
		o.KeepAlive = -1 // the library's "off"; its 0 means the default
	} else {
		o.KeepAlive = time.Duration(f.keepAlive) * time.Second
	}
	if f.tlsConfig != nil {
		o.TLSConfig = f.tlsConfig.Clone()
	}
	if p := f.props; p != nil {
		o.UserProperties = p.connectUser
		o.ReceiveMaximum = p.receiveMaximum
		o.MaximumPacketSize = p.maximumPacketSize
		o.TopicAliasMaximum = p.topicAliasMaximum
		o.RequestResponseInfo = p.requestResponse
		o.NoProblemInfo = p.noProblemInfo
		o.WillDelay = p.willDelay
	}
	if f.unix != "" {
		path := f.unix
		o.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	if f.debug {
		t := &tracer{w: e.errWriter(), prefix: "mqtt " + e.command + ": "}
		if label != "" {
			t.prefix += label + " "
		}
		o.OnPacketSent = t.sent
		o.OnPacketReceived = t.received
	}
	return o
}

// dial connects to the first URL, then the others of -L in turn. A
// connection attempt that runs out of --connect-timeout says which flag to
// change.
func (f *connFlags) dial(ctx context.Context, opts *mqtt.DialOptions) (*mqtt.Client, error) {
	c, err := mqtt.Dial(ctx, f.primary, opts)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("no connection within %v (--connect-timeout): %w", time.Duration(f.timeout), err)
	}
	return c, err
}

// parseVersion reads -V. It accepts the names people write (3.1.1), the
// protocol levels MQTT.js takes (4) and mosquitto's names (mqttv311).
func parseVersion(s string) (mqtt.Version, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case "3.1", "3", "31", "mqttv31":
		return mqtt.V31, nil
	case "3.1.1", "4", "311", "mqttv311":
		return mqtt.V311, nil
	case "5", "5.0", "50", "mqttv5":
		return mqtt.V5, nil
	}
	return 0, usagef("-V %q is not an MQTT version; use 5, 3.1.1 or 3.1", s)
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

// appendNew appends s to list unless it is there already.
func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
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
