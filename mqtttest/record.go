package mqtttest

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/culex-mqtt/mqtt/wire"
)

// Direction says which way a packet went.
type Direction int8

// The two directions of a Record.
const (
	FromClient Direction = 1 // read by the server from the client
	ToClient   Direction = 2 // written by the server to the client
)

// String returns "from client" or "to client".
func (d Direction) String() string {
	switch d {
	case FromClient:
		return "from client"
	case ToClient:
		return "to client"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// A Record is one packet that crossed a connection, as Server.Packets lists
// them. Records hold only comparable data, so tests can compare a sequence
// of them with cmp.Diff.
type Record struct {
	// Conn numbers the connection: 1 for the first one the server
	// accepted or dialed, 2 for the next, and so on (Conn.Number).
	Conn int
	// ClientID is the connection's client identifier when the packet
	// passed: the one the CONNECT asked for, then the one the server
	// assigned, if it assigned one.
	ClientID string
	// Dir says whether the client sent the packet or received it.
	Dir Direction
	// Packet is the decoded packet: what was read, or what was written,
	// for the connection's protocol version. It must not be modified.
	Packet wire.Packet
}

// String describes the record briefly, as "conn 1 "c1" to client PUBACK".
func (r Record) String() string {
	t := "<nil>"
	if r.Packet != nil {
		t = r.Packet.Type().String()
	}
	return fmt.Sprintf("conn %d %q %v %v", r.Conn, r.ClientID, r.Dir, t)
}

var errServerClosed = errors.New("mqtttest: server closed")

// record appends r to the server's records and wakes the waiters.
func (s *Server) record(r Record) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if lim := s.opts.recordLimit; lim >= 0 {
		if lim == 0 {
			s.recDropped++
			s.notifyLocked(s.recWaiters)
			return
		}
		if len(s.recs) >= 2*lim {
			n := copy(s.recs, s.recs[len(s.recs)-lim+1:])
			clear(s.recs[n:])
			s.recDropped += len(s.recs) - n
			s.recs = s.recs[:n]
		}
	}
	s.recs = append(s.recs, r)
	s.notifyLocked(s.recWaiters)
}

// notifyLocked wakes every waiter in ws without blocking.
func (s *Server) notifyLocked(ws map[chan struct{}]struct{}) {
	for ch := range ws {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Packets returns a copy of the records of every packet read or sent so
// far, on every connection, in the order the server handled them (see
// RecordLimit). A packet from the client is recorded when the server has
// read it, before it acts on it; a packet to the client when the server
// queues it for writing. So the packets the server sends because of one it
// read come right after it, and with a client that waits for each answer
// the sequence is the same on every run. Within one connection and
// direction the order is the order on the wire. A packet queued when the
// connection is cut may not reach the client.
//
// Packets to the client that a Fault drops are not recorded, those it holds
// are recorded when released; bytes sent with Conn.WriteRaw are not
// recorded.
func (s *Server) Packets() []Record {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	recs := s.recs
	if lim := s.opts.recordLimit; lim >= 0 && len(recs) > lim {
		recs = recs[len(recs)-lim:]
	}
	return append([]Record(nil), recs...)
}

// WaitPacket returns the first record, oldest first, for which match
// returns true: one already recorded, or else the next one to be. It calls
// match once for each record, in order, so match may count records to skip
// the ones it has seen. It returns an error when ctx ends or the server is
// closed first.
//
// match runs while the server's record lock is held: it must not call the
// Server's methods.
func (s *Server) WaitPacket(ctx context.Context, match func(Record) bool) (Record, error) {
	ch := make(chan struct{}, 1)
	next := 0 // index of the next record to look at, counting dropped ones
	s.recMu.Lock()
	s.recWaiters[ch] = struct{}{}
	defer func() {
		s.recMu.Lock()
		delete(s.recWaiters, ch)
		s.recMu.Unlock()
	}()
	for {
		// Records dropped by RecordLimit before match saw them are
		// skipped.
		base := s.recDropped
		if lim := s.opts.recordLimit; lim >= 0 && len(s.recs) > lim {
			base += len(s.recs) - lim
		}
		for i := max(next, base); i < s.recDropped+len(s.recs); i++ {
			r := s.recs[i-s.recDropped]
			next = i + 1
			if match(r) {
				s.recMu.Unlock()
				return r, nil
			}
		}
		next = max(next, s.recDropped+len(s.recs))
		closed := s.recClosed
		s.recMu.Unlock()
		if closed {
			return Record{}, errServerClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Record{}, fmt.Errorf("mqtttest: waiting for a packet: %w", ctx.Err())
		}
		s.recMu.Lock()
	}
}

// Conn returns the connection of the client with the given client ID, once
// it is connected: its CONNECT was accepted and the connection is still
// open. If the client is not connected yet, Conn waits for it; if it
// reconnects, a later call returns the new connection. Conn returns an
// error when ctx ends or the server is closed first. For a v5 client that
// connected with an empty client ID, use the identifier the server assigned
// ("auto-1", "auto-2", ... in order).
func (s *Server) Conn(ctx context.Context, clientID string) (*Conn, error) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.connWaiters[ch] = struct{}{}
	defer func() {
		s.mu.Lock()
		delete(s.connWaiters, ch)
		s.mu.Unlock()
	}()
	for {
		c := s.byID[clientID]
		closed := s.closed
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		if closed {
			return nil, errServerClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("mqtttest: waiting for client %q: %w", clientID, ctx.Err())
		}
		s.mu.Lock()
	}
}
