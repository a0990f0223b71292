// Package testcert generates a throw-away certificate authority with a
// server and a client certificate, entirely in memory, for tests that need
// TLS: a mosquitto broker with TLS listeners, the Go fake broker in
// mqtttest, or mutual TLS between the two.
//
// Keys are ECDSA P-256. Every call to New makes a fresh CA, so bundles from
// different calls do not trust each other. Nothing here is fit for
// production use.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServerDNSNames are the DNS names the server certificate is valid for.
// Read-only.
var ServerDNSNames = []string{"localhost"}

// ServerIPs are the IP addresses the server certificate is valid for.
// Read-only.
var ServerIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// ClientCommonName is the subject common name of the client certificate.
const ClientCommonName = "culex-test-client"

// Bundle holds a CA and the server and client certificates it signed, both
// parsed and PEM-encoded. Treat it as read-only once New returns it.
type Bundle struct {
	// CA is the self-signed certificate authority that signed the server
	// and client certificates.
	CA *x509.Certificate
	// CAPEM is CA in PEM form ("CERTIFICATE" block).
	CAPEM []byte

	// Server is the server certificate chain with its private key, ready
	// for tls.Config.Certificates.
	Server tls.Certificate
	// ServerCertPEM is the server certificate in PEM form.
	ServerCertPEM []byte
	// ServerKeyPEM is the server private key in PEM form (PKCS #8,
	// "PRIVATE KEY" block).
	ServerKeyPEM []byte

	// Client is the client certificate with its private key, ready for
	// tls.Config.Certificates.
	Client tls.Certificate
	// ClientCertPEM is the client certificate in PEM form.
	ClientCertPEM []byte
	// ClientKeyPEM is the client private key in PEM form (PKCS #8,
	// "PRIVATE KEY" block).
	ClientKeyPEM []byte

	pool *x509.CertPool
}

// Files lists the paths written by Bundle.WriteFiles.
type Files struct {
	Dir        string // directory holding all the files
	CA         string // ca.crt: the CA certificate
	ServerCert string // server.crt: the server certificate
	ServerKey  string // server.key: the server private key
	ClientCert string // client.crt: the client certificate
	ClientKey  string // client.key: the client private key
}

// New generates a fresh CA, a server certificate signed by it for
// ServerDNSNames and ServerIPs, and a client certificate signed by it for
// ClientCommonName. The certificates are valid from an hour ago until
// seven days from now.
func New() (*Bundle, error) {
	now := time.Now()
	notBefore, notAfter := now.Add(-time.Hour), now.Add(7*24*time.Hour)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcert: CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"culex tests"}, CommonName: "culex test CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, ca, err := sign(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: CA certificate: %w", err)
	}

	b := &Bundle{CA: ca, CAPEM: pemBlock("CERTIFICATE", caDER)}
	b.pool = x509.NewCertPool()
	b.pool.AddCert(ca)

	serverTmpl := &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"culex tests"}, CommonName: "localhost"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    append([]string(nil), ServerDNSNames...),
		IPAddresses: append([]net.IP(nil), ServerIPs...),
	}
	b.Server, b.ServerCertPEM, b.ServerKeyPEM, err = leaf(serverTmpl, ca, caKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: server certificate: %w", err)
	}

	clientTmpl := &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"culex tests"}, CommonName: ClientCommonName},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	b.Client, b.ClientCertPEM, b.ClientKeyPEM, err = leaf(clientTmpl, ca, caKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: client certificate: %w", err)
	}
	return b, nil
}

// leaf makes a key pair and a certificate for tmpl signed by the CA.
func leaf(tmpl, ca *x509.Certificate, caKey crypto.Signer) (tls.Certificate, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	der, cert, err := sign(tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	tc := tls.Certificate{
		Certificate: [][]byte{der},
		PrivateKey:  key,
		Leaf:        cert,
	}
	return tc, pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

// sign gives tmpl a random serial number, signs it with parent's key and
// returns the DER bytes and the parsed certificate.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return der, cert, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// CertPool returns a new pool holding only the CA certificate.
func (b *Bundle) CertPool() *x509.CertPool {
	return b.pool.Clone()
}

// WriteFiles writes the PEM files ca.crt, server.crt, server.key,
// client.crt and client.key into dir, which must exist, and returns their
// paths. Private keys are written with mode 0600, certificates with 0644.
func (b *Bundle) WriteFiles(dir string) (Files, error) {
	f := Files{
		Dir:        dir,
		CA:         filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"),
		ClientKey:  filepath.Join(dir, "client.key"),
	}
	writes := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CA, b.CAPEM, 0o644},
		{f.ServerCert, b.ServerCertPEM, 0o644},
		{f.ServerKey, b.ServerKeyPEM, 0o600},
		{f.ClientCert, b.ClientCertPEM, 0o644},
		{f.ClientKey, b.ClientKeyPEM, 0o600},
	}
	for _, w := range writes {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return Files{}, fmt.Errorf("testcert: %w", err)
		}
	}
	return f, nil
}

// ServerTLSConfig returns a new server configuration presenting the server
// certificate. Client certificates signed by the CA are verified if a
// client offers one (tls.VerifyClientCertIfGiven); set ClientAuth to
// tls.RequireAndVerifyClientCert on the result to demand one. Each call
// returns a fresh *tls.Config that the caller may modify.
func (b *Bundle) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{b.Server},
		ClientCAs:    b.CertPool(),
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
}

// ClientTLSConfig returns a new client configuration that trusts only the
// CA and so verifies the server certificate. If withClientCert is true it
// also presents the client certificate, for mutual TLS.
//
// ServerName is left empty: tls.Dial and most dialers fill it in from the
// address (127.0.0.1, ::1 and localhost all verify). Code that calls
// tls.Client directly must set it. Each call returns a fresh *tls.Config
// that the caller may modify.
func (b *Bundle) ClientTLSConfig(withClientCert bool) *tls.Config {
	c := &tls.Config{
		RootCAs:    b.CertPool(),
		MinVersion: tls.VersionTLS12,
	}
	if withClientCert {
		c.Certificates = []tls.Certificate{b.Client}
	}
	return c
}
