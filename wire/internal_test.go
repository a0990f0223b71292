package wire

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReaderShrinks: the buffer grows for a packet larger than it and goes
// back to its first size once that packet has been handed out.
func TestReaderShrinks(t *testing.T) {
	t.Parallel()
	big := &Publish{Topic: "t", Payload: make([]byte, 1000)}
	small := &Publish{Topic: "t", Payload: []byte("x")}
	var raw []byte
	for _, p := range []*Publish{small, big, small, small} {
		raw, _ = p.Append(raw, V311)
	}
	r := NewReader(iotest.HalfReader(bytes.NewReader(raw)), 16)
	sizes := []int{}
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(r.buf))
	}
	// After the small packet: 16. After the big one: grown to hold it.
	// After the next small one: back to 16.
	if len(sizes) != 4 || sizes[0] != 16 || sizes[1] < big.mustSize(t) || sizes[2] != 16 || sizes[3] != 16 {
		t.Errorf("buffer sizes after each packet: %v", sizes)
	}

	// A packet that needs less than four times the buffer keeps it grown:
	// no churn for a peer whose packets are a little above the size.
	r = NewReader(bytes.NewReader(raw), 600)
	for range 3 {
		if _, _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.buf) < big.mustSize(t) {
		t.Errorf("buffer of %d bytes, want it kept at %d or more", len(r.buf), big.mustSize(t))
	}
}

// chunks is a stream that arrives in the given pieces: a Read returns at
// most the rest of the current piece.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if (*c)[0] = (*c)[0][n:]; len((*c)[0]) == 0 {
		*c = (*c)[1:]
	}
	return n, nil
}

// TestReaderShrinksAfterBurst: a burst of small packets grows the buffer to
// its full size; the first small read after it takes the buffer back to its
// first size, so that a connection that was busy once does not keep 64 KiB
// for ever.
func TestReaderShrinksAfterBurst(t *testing.T) {
	t.Parallel()
	var burst []byte
	for len(burst) < 4*DefaultReadBuffer {
		burst, _ = (&Publish{Topic: "t", Payload: make([]byte, 100)}).Append(burst, V311)
	}
	quiet, _ := (&Pingresp{}).Append(nil, V311)
	for _, stream := range []chunks{{burst, quiet}, {burst}} {
		checkShrinksAfter(t, stream)
	}
}

// checkShrinksAfter reads stream to its end: the buffer grows to its full
// size and is back to its first size at the end, whether a small read came
// after the burst or the Reader waits for one (here: EOF).
func checkShrinksAfter(t *testing.T, stream chunks) {
	t.Helper()
	pieces := len(stream)
	r := NewReader(&stream, 0)
	grown := 0
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		grown = max(grown, len(r.buf))
	}
	if grown != DefaultReadBuffer {
		t.Errorf("the burst grew the buffer to %d bytes, want %d", grown, DefaultReadBuffer)
	}
	if len(r.buf) != initialReadBuffer {
		t.Errorf("%d pieces: buffer of %d bytes at the end, want %d", pieces, len(r.buf), initialReadBuffer)
	}
}

func (p *Publish) mustSize(t *testing.T) int {
	n, err := p.Size(V311)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestVarint checks appendVarint, readVarint and varintLen against each
// other at every boundary and at random values (MQTT-1.5.5-1).
func TestVarint(t *testing.T) {
	t.Parallel()
	values := []int{0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MaxRemainingLength}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		values = append(values, rng.IntN(MaxRemainingLength+1))
	}
	for _, v := range values {
		b := appendVarint(nil, v)
		if len(b) != varintLen(v) {
			t.Fatalf("%d: %d bytes, varintLen says %d", v, len(b), varintLen(v))
		}
		want := 1
		for x := v; x >= 128; x >>= 7 {
			want++
		}
		if len(b) != want {
			t.Fatalf("%d: %d bytes, want the fewest, %d (MQTT-1.5.5-1)", v, len(b), want)
		}
		got, n, err := readVarint(append(b, 0xff))
		if err != nil || n != len(b) || got != v {
			t.Fatalf("readVarint(% x) = %d, %d, %v; want %d", b, got, n, err, v)
		}
		// Every strict prefix is incomplete, not an error.
		for i := range len(b) {
			if got, n, err := readVarint(b[:i]); got != 0 || n != 0 || err != nil {
				t.Fatalf("readVarint(% x) = %d, %d, %v; want incomplete", b[:i], got, n, err)
			}
		}
	}
	if _, _, err := readVarint([]byte{0x80, 0x80, 0x80, 0x80, 0x01}); err == nil {
		t.Error("five-byte varint accepted")
	}
}

func TestItoa(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 7: "7", 42: "42", -3: "-3", -1234567: "-1234567"} {
		if got := itoa(n); got != want {
			t.Errorf("itoa(%d) = %q, want %q", n, got, want)
		}
	}
}
