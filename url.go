package mqtt

// This file parses server URLs: scheme, host and port, user info, and the
// WebSocket path; and shows them in errors and logs without secrets.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// target is a parsed server URL.
type target struct {
	raw      string // scheme://host[:port]/path, for errors and logs: no user info, query or fragment
	url      string // as given without user info, for BeforeConnect
	scheme   string // tcp, tls, ws, wss
	host     string // host:port
	wsURL    string
	username string
	password []byte
	hasUser  bool
	header   http.Header // for the WebSocket upgrade, set by BeforeConnect; nil: DialOptions.WebSocket's
}

// encodeSecrets is the advice for user info that breaks a URL.
const encodeSecrets = "percent-encode '/', '?', '#', '@' and ':' in the user name and password " +
	"(as %2F, %3F, %23, %40 and %3A), or set DialOptions.Username and Password instead"

func parseURL(raw string) (*target, error) {
	i := strings.Index(raw, "://")
	if i < 0 {
		// "alice:pw@host" parses as the scheme "alice": never show it.
		return nil, badOptionf("server URL %q is not of the form scheme://host[:port]%s", redact(raw), schemeHint(raw))
	}
	// A user name or password with '/', '?' or '#' ends the authority
	// early: the secret lands in the host, port, path, query or fragment.
	// tail is what follows the authority, as url.Parse splits it.
	rest := raw[i+3:]
	tail := ""
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		tail = rest[end:]
	}
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(rest, "@") {
			// url.Parse's error quotes parts of the URL, which may be
			// parts of the password.
			return nil, badOptionf("server URL %q does not parse; %s", redact(raw), encodeSecrets)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, whose query may be secret
		}
		return nil, badOptionf("server URL %q: %w", redact(raw), err)
	}
	t := &target{}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp":
		t.scheme, port = "tcp", "1883"
	case "mqtts", "tls", "ssl":
		t.scheme, port = "tls", "8883"
	case "ws":
		t.scheme, port = "ws", "80"
	case "wss", "wxs", "alis":
		t.scheme, port = "wss", "443"
	default:
		return nil, badOptionf("server URL %q: unknown scheme %q; use mqtt, mqtts, ws or wss", redact(raw), u.Scheme)
	}
	switch {
	case (t.scheme == "tcp" || t.scheme == "tls") && tail != "" && tail != "/":
		// MQTT over TCP has no use for them; refusing them also stops
		// a password with '/', '?' or '#' from becoming a host name to
		// look up.
		return nil, badOptionf("server URL %q has a path, query or fragment, which MQTT over TCP and TLS does not use: "+
			"remove it; if it comes from the user name or password, %s", redact(raw), encodeSecrets)
	case strings.Contains(tail, "@"):
		// Almost always a password with '/', '?' or '#'.
		return nil, badOptionf("server URL %q has an '@' in its path, query or fragment: write it as %%40; "+
			"if it comes from the user name or password, %s", redact(raw), encodeSecrets)
	}
	if u.Hostname() == "" {
		return nil, badOptionf("server URL %q has no host", redact(raw))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return nil, badOptionf("server URL %q: bad port %q", redact(raw), p)
		}
		port = p
	}
	t.host = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		t.hasUser = true
		t.username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			t.password = []byte(p)
		}
	}
	u.User = nil
	t.url = u.String()
	// The query of a signed WebSocket URL is a credential too.
	t.raw = u.Scheme + "://" + u.Host + u.EscapedPath()
	if t.scheme == "ws" || t.scheme == "wss" {
		path := u.EscapedPath()
		if path == "" {
			path = "/mqtt"
		}
		scheme := "ws"
		if t.scheme == "wss" {
			scheme = "wss"
		}
		t.wsURL = scheme + "://" + t.host + path
		if u.RawQuery != "" {
			t.wsURL += "?" + u.RawQuery
		}
	}
	return t, nil
}

// schemeHint completes the error of a URL without a scheme: the URL with
// one, when showing it reveals no user info.
func schemeHint(raw string) string {
	if raw != "" && !strings.ContainsAny(raw, "@/?#") {
		return "; did you mean mqtt://" + raw + "?"
	}
	return ", like mqtt://broker:1883"
}

// references returns the servers of a Server Reference that t's server
// sent (MQTT 5.0 section 4.11): one or more, separated by spaces, each host
// or host:port. Each is reached like t: same scheme, WebSocket path, user
// info; a missing port is t's.
func (t *target) references(ref string) ([]*target, error) {
	_, port, _ := net.SplitHostPort(t.host)
	scheme, _, _ := strings.Cut(t.raw, "://")
	var path string
	if t.scheme == "ws" || t.scheme == "wss" {
		if u, err := url.Parse(t.wsURL); err == nil {
			path = u.EscapedPath()
		}
	}
	var targets []*target
	for _, hp := range strings.Fields(ref) {
		if _, _, err := net.SplitHostPort(hp); err != nil {
			hp = net.JoinHostPort(strings.Trim(hp, "[]"), port)
		}
		nt, err := parseURL(scheme + "://" + hp + path)
		if err != nil {
			return nil, fmt.Errorf("server reference %q: %w", ref, err)
		}
		nt.hasUser, nt.username, nt.password = t.hasUser, t.username, t.password
		targets = append(targets, nt)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("server reference %q names no server", ref)
	}
	return targets, nil
}

// plaintext reports whether t sends the password in clear.
func (t *target) plaintext() bool { return t.scheme == "tcp" || t.scheme == "ws" }

// checkTransport refuses a plain-text target when TLS was asked for, and
// what the platform cannot do (checkPlatform).
func checkTransport(t *target, o *DialOptions) error {
	if err := checkPlatform(t, o); err != nil {
		return err
	}
	if t.plaintext() && o.TLSConfig != nil && !o.AllowPlaintext {
		return badOptionf("server URL %s is plain text, but DialOptions.TLSConfig is set: the password would go out unencrypted; "+
			"use mqtts:// or wss://, or set DialOptions.AllowPlaintext to connect without TLS", t.raw)
	}
	return nil
}

// redact shows a URL in a message without what may be secret: everything
// before the last '@' (user info, whose '/', '?' or '#' may have moved the
// end of the authority), and the query and fragment after it (a signed
// URL's signature). It works on URLs that do not parse.
func redact(raw string) string {
	scheme, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "***" + rest[at:]
	}
	if end := strings.IndexAny(rest, "?#"); end >= 0 {
		rest = rest[:end]
	}
	return scheme + rest
}

// credentials are the user name and password of one connection attempt.
type credentials struct {
	username string
	password []byte
	set      bool // send the user name even when it is empty
}

// credentials are those of the URL's user info when t has any (its
// password, or the given one when it names none), else the given ones.
func (t *target) credentials(username string, password []byte) credentials {
	if !t.hasUser {
		return credentials{username: username, password: password}
	}
	cred := credentials{username: t.username, password: t.password, set: true}
	if cred.password == nil {
		cred.password = password
	}
	return cred
}
