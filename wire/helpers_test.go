package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt/wire"
)

// hx decodes hex written for people: each argument is one field of a packet,
// spaces are ignored. It panics on bad hex, which is a bug in the test table.
func hx(fields ...string) []byte {
	var b []byte
	for _, f := range fields {
		s := strings.ReplaceAll(f, " ", "")
		d, err := hex.DecodeString(s)
		if err != nil {
			panic("bad hex " + f + ": " + err.Error())
		}
		b = append(b, d...)
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// versions lists the protocol versions wire speaks.
var versions = []wire.Version{wire.V31, wire.V311, wire.V5}

// encodeVersion is the version a decoded packet must be encoded with to get
// it back: a CONNECT names its own version, everything else uses v.
func encodeVersion(p wire.Packet, v wire.Version) wire.Version {
	if c, ok := p.(*wire.Connect); ok {
		return c.Version
	}
	return v
}

// decodeAll decodes raw, which holds exactly one packet, with wire.Parse and
// with a Reader, checks that both agree and that nothing is left over, and
// returns the packet or the (common) error.
func decodeAll(t *testing.T, raw []byte, v wire.Version) (wire.Packet, error) {
	t.Helper()
	p, n, err := wire.Parse(raw, v)
	if err == nil && n != len(raw) {
		t.Errorf("Parse took %d bytes of %d", n, len(raw))
	}
	if err != nil && p != nil {
		t.Errorf("Parse returned packet %#v with error %v", p, err)
	}
	r := wire.NewReader(bytes.NewReader(raw), 0)
	rp, rerr := r.ReadPacket(v)
	if rerr != nil && rp != nil {
		t.Errorf("ReadPacket returned packet %#v with error %v", rp, rerr)
	}
	switch {
	case (err == nil) != (rerr == nil):
		t.Errorf("Parse error %v, ReadPacket error %v", err, rerr)
	case err == nil:
		if diff := cmp.Diff(p, rp, bytesEqual); diff != "" {
			t.Errorf("Parse and ReadPacket differ (-Parse +ReadPacket):\n%s", diff)
		}
		if _, err := r.ReadPacket(v); err != io.EOF {
			t.Errorf("ReadPacket after the only packet: got %v, want io.EOF", err)
		}
	default:
		if diff := cmp.Diff(errString(err), errString(rerr)); diff != "" {
			t.Errorf("Parse and ReadPacket fail differently (-Parse +ReadPacket):\n%s", diff)
		}
	}
	return p, err
}

// bytesEqual compares byte slices fast (cmp walks them element by element,
// which takes seconds for megabyte payloads) and tells nil from empty, since
// nil means absent for CorrelationData and AuthData.
var bytesEqual = cmp.Comparer(func(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
})

// cmpDiff is cmp.Diff with bytesEqual.
func cmpDiff(want, got any) string { return cmp.Diff(want, got, bytesEqual) }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sentinelFor returns the sentinel error an *Error with code c matches, or
// nil when it matches none.
func sentinelFor(c wire.ReasonCode) error {
	switch c {
	case wire.MalformedPacket:
		return wire.ErrMalformed
	case wire.ProtocolError, wire.TopicNameInvalid, wire.TopicFilterInvalid:
		return wire.ErrProtocol
	case wire.PacketTooLarge:
		return wire.ErrPacketTooLarge
	}
	return nil
}

// checkError asserts that err is an *Error with code want about packet type
// typ, that it matches exactly the sentinel of its class, and that its text
// contains every string in contains.
func checkError(t *testing.T, err error, want wire.ReasonCode, typ wire.Type, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %#02x (%v)", byte(want), want)
	}
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	if we.Code != want {
		t.Errorf("error %q: code %#02x (%v), want %#02x (%v)", err, byte(we.Code), we.Code, byte(want), want)
	}
	if we.Packet != typ {
		t.Errorf("error %q: packet %v, want %v", err, we.Packet, typ)
	}
	if we.Reason == "" || err.Error() == "" {
		t.Errorf("error %#v has no text", we)
	}
	s := sentinelFor(want)
	for _, sentinel := range []error{wire.ErrMalformed, wire.ErrProtocol, wire.ErrPacketTooLarge} {
		if got := errors.Is(err, sentinel); got != (sentinel == s) {
			t.Errorf("errors.Is(%q, %v) = %v, want %v", err, sentinel, got, !got)
		}
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}
