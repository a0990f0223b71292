package mqtt

import (
	"context"
	"sync"
	"time"

	"github.com/culex-mqtt/mqtt/wire"
)

// maxBuffered is how many encoded bytes may wait for the writer before
// senders that can wait (Publish) are held back.
const maxBuffered = 1 << 20

// writer owns the connection's write side. Senders append encoded packets to
// a buffer under a short lock; one goroutine writes whatever has gathered in
// one system call. Packets that become ready together leave together, and no
// sender ever waits for the network while holding the lock.
type writer struct {
	cn *connection

	mu       sync.Mutex
	buf      []byte        // encoded packets waiting to be written
	spare    []byte        // the buffer being written, reused next round
	closed   bool          // no more packets are accepted
	space    chan struct{} // closed when buf drains; made by a waiting sender
	kick     chan struct{} // wakes the loop; capacity 1
	finished chan struct{} // closed when the loop has ended
}

func newWriter(cn *connection) *writer {
	return &writer{
		cn:       cn,
		buf:      make([]byte, 0, 512), // grows with the traffic
		kick:     make(chan struct{}, 1),
		finished: make(chan struct{}),
	}
}

// errWriterClosed is internal: the connection is ending.
type writerClosedError struct{}

func (writerClosedError) Error() string { return "the connection is closed" }

// waitSpace waits, bounded by ctx, while the buffer is full. Senders that
// can wait (Publish, Subscribe) call it before sendNow, so that a slow
// network holds the application back instead of growing the buffer. It
// returns nil when the writer is closed: sendNow then says so.
func (w *writer) waitSpace(ctx context.Context) error {
	w.mu.Lock()
	for len(w.buf) >= maxBuffered && !w.closed {
		if w.space == nil {
			w.space = make(chan struct{})
		}
		space := w.space
		w.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// sendNow encodes p into the buffer without waiting for space (acks and
// pings, which the reading goroutine and the keep-alive loop send, must
// never wait on the application). Once it returns nil the packet will be
// written unless the connection fails: it can no longer be taken back.
func (w *writer) sendNow(p wire.Packet) error {
	w.mu.Lock()
	return w.appendLocked(p)
}

// appendLocked encodes p into the buffer, unlocks and wakes the loop.
func (w *writer) appendLocked(p wire.Packet) error {
	if w.closed {
		w.mu.Unlock()
		return writerClosedError{}
	}
	b, err := p.Append(w.buf, w.cn.version)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	w.buf = b
	w.mu.Unlock()
	w.cn.c.trace(true, p)
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return nil
}

// sendLast queues p as the final packet, writes what is buffered and stops
// accepting packets. It gives up after a second if the network is stuck.
func (w *writer) sendLast(p wire.Packet) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	b, err := p.Append(w.buf, w.cn.version)
	if err == nil {
		w.buf = b
		w.cn.c.trace(true, p)
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	select {
	case <-w.finished:
	case <-time.After(time.Second):
	}
}

// close stops accepting packets; what is buffered is dropped.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// loop writes buffered packets until the writer is closed.
func (w *writer) loop(wg *sync.WaitGroup) {
	defer wg.Done()
	defer close(w.finished)
	for {
		<-w.kick
		w.mu.Lock()
		out := w.buf
		w.buf = w.spare[:0] // nil the first time
		w.spare = nil
		closed := w.closed
		if w.space != nil {
			close(w.space)
			w.space = nil
		}
		w.mu.Unlock()
		if len(out) > 0 {
			_, err := w.cn.conn.Write(out)
			w.cn.lastSent.Store(time.Now().UnixNano())
			if err != nil {
				w.mu.Lock()
				w.closed = true
				w.mu.Unlock()
				w.cn.fail(err)
				return
			}
		}
		w.mu.Lock()
		w.spare = out[:0]
		if closed || w.closed && len(w.buf) == 0 {
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}
