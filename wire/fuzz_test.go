package wire_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
)

// The fuzz targets decode arbitrary bytes as one protocol version each. What
// decodes must encode again without error, and that encoding must decode to
// an equal packet. Seeds: the golden and bad-input tables (f.Add) and the
// files in testdata/fuzz/<target>/, which TestFuzzCorpus keeps in step with
// the tables (-update-corpus rewrites them).

func FuzzDecodeV31(f *testing.F)  { fuzzDecode(f, wire.V31) }
func FuzzDecodeV311(f *testing.F) { fuzzDecode(f, wire.V311) }
func FuzzDecodeV5(f *testing.F)   { fuzzDecode(f, wire.V5) }

// fuzzMaxPacket bounds what a fuzzed Reader may hold.
const fuzzMaxPacket = 1 << 16

func fuzzDecode(f *testing.F, v wire.Version) {
	for _, s := range decodeSeeds(v) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, v)
	})
}

// checkDecode decodes every packet of data for version v with a Reader and
// checks each one that decodes by encoding it again.
func checkDecode(t *testing.T, data []byte, v wire.Version) {
	r := wire.NewReader(bytes.NewReader(data), 64)
	r.MaxPacketSize = fuzzMaxPacket
	for i := 0; ; i++ {
		h, body, err := r.Next()
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				mustBeWireError(t, err)
			}
			return
		}
		p, err := wire.Decode(h, body, v)
		if i == 0 {
			// Parse must agree with the Reader on the first packet. (The
			// header may be longer than h.Size() assumes: a Remaining
			// Length in more bytes than needed is accepted.)
			_, hn, _ := wire.ParseHeader(data)
			pp, n, perr := wire.Parse(data, v)
			if (err == nil) != (perr == nil) || (err == nil && (n != hn+h.Remaining || cmpDiff(p, pp) != "")) {
				t.Fatalf("Reader and Decode: %v, %v; Parse: %v, %d, %v", p, err, pp, n, perr)
			}
		}
		if err != nil {
			if p != nil {
				t.Fatalf("Decode returned packet %#v with error %v", p, err)
			}
			mustBeWireError(t, err)
			continue
		}
		roundTrip(t, p, v)
	}
}

// roundTrip encodes p, decodes the encoding and wants p back.
func roundTrip(t *testing.T, p wire.Packet, v wire.Version) {
	t.Helper()
	ev := encodeVersion(p, v)
	b, err := p.Append(nil, ev)
	if err != nil {
		t.Fatalf("decoded %#v for MQTT %v, but Append refuses it: %v", p, ev, err)
	}
	if pub, ok := p.(*wire.Publish); ok {
		if n, err := pub.Size(ev); err != nil || n != len(b) {
			t.Fatalf("Size = %d, %v; Append wrote %d bytes", n, err, len(b))
		}
	}
	p2, n, err := wire.Parse(b, ev)
	if err != nil {
		t.Fatalf("decoded %#v, encoded it as % x, which does not decode: %v", p, b, err)
	}
	if n != len(b) {
		t.Fatalf("re-encoding is %d bytes, Parse took %d", len(b), n)
	}
	if diff := cmpDiff(p, p2); diff != "" {
		t.Fatalf("decode(encode(p)) != p (-p +decoded):\n%s", diff)
	}
	b2, err := p2.Append(nil, ev)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("encoding is not stable: % x, then % x, %v", b, b2, err)
	}
}

func mustBeWireError(t *testing.T, err error) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	if we.Reason == "" {
		t.Fatalf("error %#v has no reason", we)
	}
	switch we.Code {
	case wire.MalformedPacket, wire.ProtocolError, wire.PacketTooLarge, wire.TopicNameInvalid,
		wire.TopicFilterInvalid, wire.UnsupportedProtocolVersion, wire.ClientIdentifierNotValid:
	default:
		t.Fatalf("error %v has unexpected code %v", err, we.Code)
	}
}

// FuzzReader compares the Reader, fed in chunks of any size through a buffer
// of any size, with ParseHeader run over the whole input: same headers, same
// bodies, same errors, in the same order.
func FuzzReader(f *testing.F) {
	for _, s := range readerSeeds() {
		f.Add(s.data, s.chunk, s.size, s.max)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk, size, max uint16) {
		checkReader(t, data, int(chunk%512)+1, int(size%512), int(max))
	})
}

func checkReader(t *testing.T, data []byte, chunk, size, max int) {
	cr := &chunkReader{b: data, n: chunk}
	r := wire.NewReader(cr, size)
	r.MaxPacketSize = max
	limit := max
	if limit <= 0 {
		limit = wire.MaxPacketSize
	}
	off := 0
	for {
		// Ready says whether Next will read: the client flushes its
		// acknowledgements when it will.
		ready, reads := r.Ready(), cr.reads
		h, body, err := r.Next()
		if ready && cr.reads != reads {
			t.Fatalf("at %d: Next read although Ready said a packet was buffered", off)
		}
		if !ready && cr.reads == reads {
			t.Fatalf("at %d: Next did not read although Ready said it would have to", off)
		}
		// What the whole input says should come next.
		wh, n, werr := wire.ParseHeader(data[off:])
		switch {
		case werr != nil:
			if err == nil || err.Error() != werr.Error() {
				t.Fatalf("at %d: Reader %v, ParseHeader %v", off, err, werr)
			}
			return
		case n == 0 && off == len(data):
			if err != io.EOF {
				t.Fatalf("at the end: %v, want io.EOF", err)
			}
			return
		case n == 0:
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("at %d, header cut short: %v, want io.ErrUnexpectedEOF", off, err)
			}
			return
		case n+wh.Remaining > limit:
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.PacketTooLarge {
				t.Fatalf("at %d: %d bytes over %d: got %v, want PacketTooLarge", off, n+wh.Remaining, limit, err)
			}
			return
		case off+n+wh.Remaining > len(data):
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("at %d, body cut short: %v, want io.ErrUnexpectedEOF", off, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("at %d: %v, want header %+v", off, err, wh)
		}
		end := off + n + wh.Remaining
		if h != wh || !bytes.Equal(body, data[off+n:end]) {
			t.Fatalf("at %d: header %+v body % x, want %+v % x", off, h, body, wh, data[off+n:end])
		}
		off = end
	}
}

// chunkReader hands out at most n bytes per Read.
type chunkReader struct {
	b     []byte
	n     int
	reads int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.reads++
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// seed is one seed input with the name of its corpus file.
type seed struct {
	name string
	data []byte
}

// decodeSeeds returns the seeds of a decode target: every golden and bad
// packet of its version, and the golden packets of all versions in one stream.
func decodeSeeds(v wire.Version) []seed {
	var seeds []seed
	for _, g := range goldenCases() {
		if g.v == v {
			seeds = append(seeds, seed{"golden-" + g.pkt.Type().String() + "-" + g.name, g.raw})
		}
	}
	for _, b := range badInputs() {
		if b.v == v {
			seeds = append(seeds, seed{"bad-" + b.typ.String() + "-" + b.name, b.raw})
		}
	}
	all, _ := stream(v)
	seeds = append(seeds, seed{"stream", all})
	return seeds
}

type readerSeed struct {
	name             string
	data             []byte
	chunk, size, max uint16
}

func readerSeeds() []readerSeed {
	all, _ := stream(wire.V5)
	return []readerSeed{
		{"stream-whole", all, 511, 0, 0},
		{"stream-one-byte", all, 0, 1, 0},
		{"stream-small-buffer", all, 7, 5, 0},
		{"stream-limit", all, 100, 16, 60},
		{"huge-header", hx("30", "ff ff ff 7f", "0001 74"), 3, 2, 1000},
		{"bad-flags", hx("c0 00", "60 02 0001"), 1, 1, 0},
		{"long-varint", hx("30 ff ff ff ff 7f"), 2, 3, 0},
		{"cut-short", hx("30 07 0003 612f62 68"), 4, 4, 0},
	}
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files of testdata/fuzz from the test tables")

// corpusFiles returns the seed files every fuzz target should have, by path.
func corpusFiles() map[string]string {
	files := map[string]string{}
	add := func(target, name, body string) {
		path := filepath.Join("testdata", "fuzz", target, "seed-"+fileName(name))
		if _, dup := files[path]; dup {
			panic("two seeds named " + path)
		}
		files[path] = "go test fuzz v1\n" + body
	}
	for _, t := range []struct {
		target string
		v      wire.Version
	}{{"FuzzDecodeV31", wire.V31}, {"FuzzDecodeV311", wire.V311}, {"FuzzDecodeV5", wire.V5}} {
		for _, s := range decodeSeeds(t.v) {
			add(t.target, s.name, fmt.Sprintf("[]byte(%q)\n", s.data))
		}
	}
	for _, s := range readerSeeds() {
		add("FuzzReader", s.name, fmt.Sprintf("[]byte(%q)\nuint16(%d)\nuint16(%d)\nuint16(%d)\n", s.data, s.chunk, s.size, s.max))
	}
	return files
}

// fileName turns a case name into a file name of [a-z0-9-].
func fileName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// TestFuzzCorpus checks that testdata/fuzz holds a seed file for every case
// of the tables, as go test -update-corpus writes them. Files the fuzzer
// added (crashers kept as regressions) are left alone.
func TestFuzzCorpus(t *testing.T) {
	for path, want := range corpusFiles() {
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale; run go test ./wire -run TestFuzzCorpus -update-corpus", path)
		}
	}
}
