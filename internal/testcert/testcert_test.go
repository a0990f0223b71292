package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// handshake runs one TLS connection between a server built from srvCfg and
// a client built from cliCfg dialing addr's host as host. It returns the
// client-side and server-side handshake errors, and the client certificate
// chain the server saw.
func handshake(t *testing.T, srvCfg, cliCfg *tls.Config, host string) (peer []*x509.Certificate, cliErr, srvErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type result struct {
		err  error
		peer []*x509.Certificate
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		// Echo one byte so the client knows the server accepted it
		// (with TLS 1.3 the client's Handshake returns before the
		// server has checked the client certificate).
		buf := make([]byte, 1)
		if _, err := io.ReadFull(tc, buf); err != nil {
			done <- result{err: err}
			return
		}
		_, err = tc.Write(buf)
		done <- result{err: err, peer: tc.ConnectionState().PeerCertificates}
	}()

	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &net.Dialer{Timeout: 5 * time.Second}
	cliErr = func() error {
		c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", port), withServerName(cliCfg, host))
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte{'x'}); err != nil {
			return err
		}
		_, err = io.ReadFull(c, make([]byte, 1))
		return err
	}()
	r := <-done
	return r.peer, cliErr, r.err
}

func withServerName(c *tls.Config, host string) *tls.Config {
	c = c.Clone()
	c.ServerName = host
	return c
}

func TestHandshake(t *testing.T) {
	b := MustNew(t)
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		peer, cliErr, srvErr := handshake(t, b.ServerTLSConfig(), b.ClientTLSConfig(false), host)
		if cliErr != nil || srvErr != nil {
			t.Fatalf("%s without client cert: client %v, server %v", host, cliErr, srvErr)
		}
		if len(peer) != 0 {
			t.Fatalf("%s: server saw %d client certificates, want none", host, len(peer))
		}
	}
}

func TestMutualTLS(t *testing.T) {
	b := MustNew(t)
	srv := b.ServerTLSConfig()
	srv.ClientAuth = tls.RequireAndVerifyClientCert

	peer, cliErr, srvErr := handshake(t, srv, b.ClientTLSConfig(true), "127.0.0.1")
	if cliErr != nil || srvErr != nil {
		t.Fatalf("with client cert: client %v, server %v", cliErr, srvErr)
	}
	if len(peer) == 0 || peer[0].Subject.CommonName != ClientCommonName {
		t.Fatalf("server saw client chain %v, want CN %q", peer, ClientCommonName)
	}

	// The default server config verifies a client certificate if given.
	peer, cliErr, srvErr = handshake(t, b.ServerTLSConfig(), b.ClientTLSConfig(true), "127.0.0.1")
	if cliErr != nil || srvErr != nil || len(peer) == 0 {
		t.Fatalf("optional client cert: client %v, server %v, %d peer certs", cliErr, srvErr, len(peer))
	}

	// Required but missing: the server must refuse.
	_, cliErr, srvErr = handshake(t, srv, b.ClientTLSConfig(false), "127.0.0.1")
	if srvErr == nil || cliErr == nil {
		t.Fatalf("missing client cert accepted: client %v, server %v", cliErr, srvErr)
	}
}

func TestClientWithoutCAFails(t *testing.T) {
	b := MustNew(t)

	// Trusting nothing (empty pool): verification must fail.
	cfg := b.ClientTLSConfig(false)
	cfg.RootCAs = x509.NewCertPool()
	_, cliErr, _ := handshake(t, b.ServerTLSConfig(), cfg, "127.0.0.1")
	var unknown x509.UnknownAuthorityError
	if !errors.As(cliErr, &unknown) {
		t.Fatalf("client without CA: got %v, want x509.UnknownAuthorityError", cliErr)
	}

	// Trusting another bundle's CA must fail as well.
	other := MustNew(t)
	_, cliErr, _ = handshake(t, b.ServerTLSConfig(), other.ClientTLSConfig(false), "127.0.0.1")
	if !errors.As(cliErr, &unknown) {
		t.Fatalf("client with another CA: got %v, want x509.UnknownAuthorityError", cliErr)
	}

	// A client certificate from another CA is refused by the server.
	srv := b.ServerTLSConfig()
	srv.ClientAuth = tls.RequireAndVerifyClientCert
	cfg = b.ClientTLSConfig(false)
	cfg.Certificates = []tls.Certificate{other.Client}
	_, cliErr, srvErr := handshake(t, srv, cfg, "127.0.0.1")
	if srvErr == nil || cliErr == nil {
		t.Fatalf("foreign client cert accepted: client %v, server %v", cliErr, srvErr)
	}
}

func TestWrongHostFails(t *testing.T) {
	b := MustNew(t)
	_, cliErr, _ := handshake(t, b.ServerTLSConfig(), b.ClientTLSConfig(false), "example.com")
	var hostErr x509.HostnameError
	if !errors.As(cliErr, &hostErr) {
		t.Fatalf("wrong host name: got %v, want x509.HostnameError", cliErr)
	}
}

func TestWriteFiles(t *testing.T) {
	b := MustNew(t)
	dir := t.TempDir()
	f, err := b.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Dir != dir {
		t.Fatalf("Dir = %q, want %q", f.Dir, dir)
	}
	for path, want := range map[string][]byte{
		f.CA: b.CAPEM, f.ServerCert: b.ServerCertPEM, f.ServerKey: b.ServerKeyPEM,
		f.ClientCert: b.ClientCertPEM, f.ClientKey: b.ClientKeyPEM,
	} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("%s: content differs from the bundle", path)
		}
		if blk, _ := pem.Decode(got); blk == nil {
			t.Fatalf("%s: not PEM", path)
		}
	}
	for _, key := range []string{f.ServerKey, f.ClientKey} {
		st, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, want 0600", key, st.Mode().Perm())
		}
	}
	// The written files load back into a working key pair.
	if _, err := tls.LoadX509KeyPair(f.ServerCert, f.ServerKey); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey); err != nil {
		t.Fatal(err)
	}
}

func TestConfigsAreIndependent(t *testing.T) {
	b, other := MustNew(t), MustNew(t)
	c1 := b.ClientTLSConfig(true)
	c1.Certificates = nil
	c1.RootCAs.AddCert(other.CA)
	if c2 := b.ClientTLSConfig(true); len(c2.Certificates) != 1 {
		t.Fatal("modifying one config affected the next")
	}
	// The other CA must not have leaked into the bundle's pool.
	cfg := other.ClientTLSConfig(false)
	cfg.RootCAs = b.CertPool()
	_, cliErr, _ := handshake(t, other.ServerTLSConfig(), cfg, "127.0.0.1")
	if cliErr == nil {
		t.Fatal("bundle pool trusts a foreign CA")
	}
}

// MustNew is New for tests: it calls tb.Fatal if generation fails.
func MustNew(tb testing.TB) *Bundle {
	tb.Helper()
	b, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
