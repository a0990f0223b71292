package wire

import (
	"errors"
	"io"
	"sync"
)

// Decode decodes the body of a packet whose fixed header is h, for protocol
// version v. A CONNECT is decoded for the version it names, whatever v says.
// The packet returned owns its memory and keeps no reference to body.
func Decode(h FixedHeader, body []byte, v Version) (Packet, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	if len(body) != h.Remaining {
		return nil, malformed(h.Type, "body is %d bytes, remaining length says %d", len(body), h.Remaining)
	}
	if h.Type != CONNECT && !v.valid() {
		return nil, protocolError(h.Type, "unknown protocol version %d", v)
	}
	switch h.Type {
	case CONNECT:
		return packet(decodeConnect(body))
	case CONNACK:
		return packet(decodeConnack(body, v))
	case PUBLISH:
		p := new(Publish)
		if err := p.Decode(h.Flags, body, v); err != nil {
			return nil, err
		}
		return p, nil
	case PUBACK:
		id, code, props, err := decodeAck(PUBACK, body, v)
		if err != nil {
			return nil, err
		}
		return &Puback{id, code, props}, nil
	case PUBREC:
		id, code, props, err := decodeAck(PUBREC, body, v)
		if err != nil {
			return nil, err
		}
		return &Pubrec{id, code, props}, nil
	case PUBREL:
		id, code, props, err := decodeAck(PUBREL, body, v)
		if err != nil {
			return nil, err
		}
		return &Pubrel{id, code, props}, nil
	case PUBCOMP:
		id, code, props, err := decodeAck(PUBCOMP, body, v)
		if err != nil {
			return nil, err
		}
		return &Pubcomp{id, code, props}, nil
	case SUBSCRIBE:
		return packet(decodeSubscribe(body, v))
	case SUBACK:
		return packet(decodeSuback(body, v))
	case UNSUBSCRIBE:
		return packet(decodeUnsubscribe(body, v))
	case UNSUBACK:
		return packet(decodeUnsuback(body, v))
	case PINGREQ, PINGRESP:
		if len(body) != 0 {
			return nil, malformed(h.Type, "has a body of %d bytes", len(body))
		}
		if h.Type == PINGREQ {
			return &Pingreq{}, nil
		}
		return &Pingresp{}, nil
	case DISCONNECT:
		code, props, err := decodeReasoned(DISCONNECT, body, v, &disconnectReasons, disconnectProps)
		if err != nil {
			return nil, err
		}
		return &Disconnect{code, props}, nil
	case AUTH:
		if v != V5 {
			return nil, protocolError(AUTH, "AUTH needs MQTT 5.0, not %v", v)
		}
		code, props, err := decodeReasoned(AUTH, body, v, &authReasons, authProps)
		if err != nil {
			return nil, err
		}
		return &Auth{code, props}, nil
	}
	return nil, malformed(h.Type, "unknown packet type")
}

// packet turns the result of a decode function into a Packet, so that an
// error comes with a nil interface rather than an interface holding a nil
// pointer.
func packet[P Packet](p P, err error) (Packet, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Parse decodes the first packet in b for version v and returns it with the
// number of bytes it took. It returns io.ErrUnexpectedEOF when b ends before
// the packet does.
func Parse(b []byte, v Version) (Packet, int, error) {
	h, n, err := ParseHeader(b)
	if err != nil {
		return nil, 0, err
	}
	if n == 0 || len(b)-n < h.Remaining {
		return nil, 0, io.ErrUnexpectedEOF
	}
	p, err := Decode(h, b[n:n+h.Remaining], v)
	if err != nil {
		return nil, 0, err
	}
	return p, n + h.Remaining, nil
}

// DefaultReadBuffer is the size of a Reader's buffer when NewReader is given 0.
const DefaultReadBuffer = 64 << 10

// Reader reads packets from a byte stream. It reads in large chunks and hands
// out every packet its buffer holds before it reads again, so a peer's small
// writes arrive in few system calls.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int // buf[start:end] is read but not yet consumed
	size       int // the largest buffer for ordinary reads
	err        error
	// first is the buffer while the stream is quiet: part of the Reader,
	// so that an idle connection costs no buffer of its own.
	first [initialReadBuffer]byte

	// MaxPacketSize is the largest packet, header included, that Next
	// accepts; 0 means MaxPacketSize. A larger packet is refused with an
	// *Error of code PacketTooLarge before its body is read or any memory
	// is set aside for it.
	MaxPacketSize int
}

// NewReader returns a Reader reading from r with a buffer of size bytes
// (DefaultReadBuffer when size is 0 or less).
//
// The buffer starts small (256 bytes, inside the Reader) and doubles, up to
// size, whenever a read fills it. Once every byte read has been handed out,
// a buffer over 4 KiB is given back (to a pool shared by Readers) and the
// next read goes to the small one; a large buffer is taken again only when
// that read fills it. A quiet connection costs little memory, also after a
// burst, and a busy one reads in large chunks.
func NewReader(r io.Reader, size int) *Reader {
	if size <= 0 {
		size = DefaultReadBuffer
	}
	rd := &Reader{r: r, size: size}
	rd.buf = rd.quiet()
	return rd
}

// initialReadBuffer is where a Reader's buffer starts, and what it goes
// back to: large enough for the packets of a quiet connection (pings,
// acknowledgements, small messages).
const initialReadBuffer = 256

// keptReadBuffer is the largest buffer a drained Reader keeps while it
// waits for the next bytes.
const keptReadBuffer = 4 << 10

// largeBuffers holds buffers of DefaultReadBuffer bytes that drained
// Readers gave back while they wait (fill): ten thousand quiet connections
// hold none, and a busy one takes one back without allocating it again at
// every burst.
var largeBuffers = sync.Pool{New: func() any { return new([DefaultReadBuffer]byte) }}

// getLarge returns a buffer of n bytes, from largeBuffers when n is
// DefaultReadBuffer. Its bytes are whatever they were.
func getLarge(n int) []byte {
	if n == DefaultReadBuffer {
		return largeBuffers.Get().(*[DefaultReadBuffer]byte)[:]
	}
	return make([]byte, n)
}

// putLarge gives b back to largeBuffers when it is one of theirs' size; the
// Reader must not use it after.
func putLarge(b []byte) {
	if len(b) == DefaultReadBuffer && cap(b) == DefaultReadBuffer {
		largeBuffers.Put((*[DefaultReadBuffer]byte)(b))
	}
}

// quiet returns the buffer of a quiet stream: the Reader's own.
func (r *Reader) quiet() []byte { return r.first[:min(r.size, initialReadBuffer)] }

// Buffered returns the number of bytes read from the stream but not yet
// returned as packets. A caller that sees 0 knows the next Next will block.
func (r *Reader) Buffered() int { return r.end - r.start }

// Ready reports whether Next will return without reading: a whole packet
// is buffered, or an error is due (a header that breaks the rules, a packet
// over MaxPacketSize). A client that batches its answers flushes them when
// Ready is false, before Next blocks.
func (r *Reader) Ready() bool {
	if r.err != nil {
		return true
	}
	h, n, err := ParseHeader(r.buf[r.start:r.end])
	return err != nil || n > 0 && (r.end-r.start >= n+h.Remaining || n+h.Remaining > r.maxSize())
}

// maxSize is the largest packet Next accepts.
func (r *Reader) maxSize() int {
	if r.MaxPacketSize <= 0 || r.MaxPacketSize > MaxPacketSize {
		return MaxPacketSize
	}
	return r.MaxPacketSize
}

// Next reads the next packet and returns its fixed header and body. The body
// is a slice of the Reader's buffer, valid only until the next call.
//
// At the end of the stream Next returns io.EOF when no bytes of a packet had
// been read, and io.ErrUnexpectedEOF when the stream ended inside one. A
// header that breaks the rules is an *Error. Errors are sticky, but for a
// timeout of the underlying reader (a net.Conn's read deadline): what was
// read before it stays buffered, and Next may be called again.
func (r *Reader) Next() (FixedHeader, []byte, error) {
	if r.err != nil {
		return FixedHeader{}, nil, r.err
	}
	h, body, err := r.next()
	if err != nil && !isTimeout(err) {
		r.err = err
	}
	return h, body, err
}

// isTimeout reports whether err is a timeout that leaves the stream intact.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func (r *Reader) next() (FixedHeader, []byte, error) {
	max := r.maxSize()
	if r.start == r.end {
		if len(r.buf) > 4*r.size {
			r.buf = r.quiet() // let go of the memory of a large packet
		}
		r.start, r.end = 0, 0
	}
	for {
		h, n, err := ParseHeader(r.buf[r.start:r.end])
		if err != nil {
			return h, nil, err
		}
		if n > 0 {
			if size := n + h.Remaining; size > max {
				return h, nil, tooLarge(h.Type, size, max)
			}
			if r.end-r.start >= n+h.Remaining {
				body := r.buf[r.start+n : r.start+n+h.Remaining : r.start+n+h.Remaining]
				r.start += n + h.Remaining
				if r.start == r.end {
					r.start, r.end = 0, 0
				}
				return h, body, nil
			}
		}
		need := 5 // the longest fixed header
		if n > 0 {
			need = n + h.Remaining
		}
		if err := r.fill(need); err != nil {
			return h, nil, err
		}
	}
}

// fill reads at least once, making room for need bytes from r.start first. It
// grows the buffer only when it is full, and then at most doubles it, so
// memory follows the bytes that arrive, not the length a header announces
// nor the number of reads they come in.
func (r *Reader) fill(need int) error {
	if r.end == 0 && len(r.buf) > keptReadBuffer {
		// Drained, with a buffer that a burst grew: wait for what comes
		// next in the Reader's own small one, having given the large
		// one back, so that a connection that falls quiet holds none
		// while it waits. (A buffer of up to keptReadBuffer is kept: a
		// peer whose packets are a little larger than the small one
		// costs no second read.)
		grown := len(r.buf)
		putLarge(r.buf)
		r.buf = r.quiet() // r.start is 0, as r.end
		n, err := r.r.Read(r.buf)
		r.end = n
		if n == len(r.buf) {
			// More is waiting: a large buffer again.
			large := getLarge(grown)
			copy(large, r.buf[:n])
			r.buf = large
		}
		return r.afterRead(n, err)
	}
	if r.start > 0 && r.start+need > len(r.buf) {
		copy(r.buf, r.buf[r.start:r.end])
		r.end -= r.start
		r.start = 0
	}
	if r.end == len(r.buf) {
		// Only reached when need > len(r.buf): the packet is larger.
		nb := make([]byte, min(need, 2*len(r.buf)))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	if r.end == len(r.buf) && len(r.buf) < r.size {
		// The read filled the buffer: more is likely waiting.
		nb := getLarge(min(r.size, 2*len(r.buf)))
		copy(nb, r.buf[r.start:r.end])
		r.end -= r.start
		r.start = 0
		r.buf = nb
	}
	return r.afterRead(n, err)
}

// afterRead is the error of a fill whose read returned n bytes and err.
func (r *Reader) afterRead(n int, err error) error {
	if n > 0 || err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) && r.end > r.start {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadPacket reads and decodes the next packet for version v.
func (r *Reader) ReadPacket(v Version) (Packet, error) {
	h, body, err := r.Next()
	if err != nil {
		return nil, err
	}
	return Decode(h, body, v)
}
