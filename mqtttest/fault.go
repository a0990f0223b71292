package mqtttest

import (
	"context"
	"fmt"
	"strconv"

	"github.com/culex-mqtt/mqtt/wire"
)

// An Action is what a Fault does to the packets it matches.
type Action int

// The actions of a Fault. Each applies to packets in either direction: a
// packet from the client is acted on after it has been read and recorded,
// before the server processes it; a packet to the client when the server
// queues it for writing, before it is recorded.
const (
	// Drop loses the packet: the server does not process one from the
	// client, and does not write one to the client. The server's state
	// does not change: a dropped PUBACK still counts as sent, as if the
	// network had lost it.
	Drop Action = iota + 1
	// Hold keeps the packet back until Fault.Release: a held packet from
	// the client is processed then, a held packet to the client is
	// queued (and recorded) then. Packets that the fault does not match
	// pass a held one, so holding one PUBACK does not delay the next.
	// (To delay a CONNACK, hold the CONNECT: a held CONNACK would let
	// what follows it reach the client first.)
	Hold
	// CloseConn closes the connection in place of the packet, abruptly
	// and without DISCONNECT, as a network failure would: a packet from
	// the client is not processed; of the packets to the client, those
	// before it are written and it and those after it are not. A will
	// is published as for any connection lost.
	CloseConn
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case Drop:
		return "Drop"
	case Hold:
		return "Hold"
	case CloseConn:
		return "CloseConn"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// A Fault is a rule, made by Server.Inject, that applies an Action to every
// packet its match function accepts, on every connection, until it is
// released. It is safe for concurrent use.
type Fault struct {
	s      *Server
	match  func(Record) bool
	action Action

	// Guarded by s.faultMu.
	released bool
	first    *Record
	held     []heldPacket
	waiters  map[chan struct{}]struct{}
}

// heldPacket is a packet kept back by a Hold fault.
type heldPacket struct {
	c    *Conn
	in   wire.Packet // a packet from the client, or nil
	item outItem     // a packet to the client
}

// Inject installs a fault: from now until f.Release, every packet for which
// match returns true gets action a. match sees the packet's Record, with
// Dir telling the direction; for instance
//
//	f := srv.Inject(func(r mqtttest.Record) bool {
//		return r.Dir == mqtttest.ToClient && r.Packet.Type() == wire.PUBACK
//	}, mqtttest.Hold)
//
// withholds every PUBACK until f.Release, and
//
//	n := 0
//	srv.Inject(func(r mqtttest.Record) bool {
//		if r.Dir == mqtttest.FromClient && r.Packet.Type() == wire.PUBLISH {
//			n++
//			return n == 3
//		}
//		return false
//	}, mqtttest.CloseConn)
//
// drops the connection on the third PUBLISH. To delay packets rather than
// withhold them, release the fault later: time.AfterFunc(d, f.Release).
//
// Faults are checked in the order they were injected and the first match
// wins. Match functions are called one at a time, so they may keep state
// without locking, but they must not call the Server's methods or block.
// Packets sent with Conn.Send, Conn.WriteRaw or Conn.Disconnect bypass
// faults.
func (s *Server) Inject(match func(Record) bool, a Action) *Fault {
	if a < Drop || a > CloseConn {
		panic("mqtttest: Inject with unknown " + a.String())
	}
	f := &Fault{s: s, match: match, action: a, waiters: map[chan struct{}]struct{}{}}
	s.faultMu.Lock()
	s.faults = append(s.faults, f)
	s.nfaults.Store(int32(len(s.faults)))
	s.faultMu.Unlock()
	return f
}

// check applies the faults to r and returns the matching one, or nil.
func (s *Server) check(r Record) *Fault {
	if s.nfaults.Load() == 0 {
		return nil
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for _, f := range s.faults {
		if f.match(r) {
			if f.first == nil {
				f.first = &r
				for ch := range f.waiters {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
			}
			return f
		}
	}
	return nil
}

// hold keeps a packet back for f; it reports false if f has been released
// meanwhile, in which case the packet goes on as usual.
func (f *Fault) hold(h heldPacket) bool {
	f.s.faultMu.Lock()
	defer f.s.faultMu.Unlock()
	if f.released {
		return false
	}
	f.held = append(f.held, h)
	return true
}

// Release removes the fault, then lets the packets it held go on, in the
// order it caught them: held packets from a client are processed, held
// packets to a client are queued for writing (after what is already
// queued). Packets of connections that have closed meanwhile are
// discarded. Releasing a released fault does nothing.
func (f *Fault) Release() {
	s := f.s
	s.faultMu.Lock()
	if f.released {
		s.faultMu.Unlock()
		return
	}
	f.released = true
	for i, g := range s.faults {
		if g == f {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			break
		}
	}
	s.nfaults.Store(int32(len(s.faults)))
	held := f.held
	f.held = nil
	s.faultMu.Unlock()
	for _, h := range held {
		if h.in != nil {
			h.c.handle(h.in)
			continue
		}
		h.item.noFault = true
		s.mu.Lock()
		h.c.enqueue(h.item)
		s.mu.Unlock()
	}
}

// Wait waits until the fault has matched a packet and returns that first
// packet's record. It returns an error if ctx ends first.
func (f *Fault) Wait(ctx context.Context) (Record, error) {
	ch := make(chan struct{}, 1)
	s := f.s
	s.faultMu.Lock()
	f.waiters[ch] = struct{}{}
	defer func() {
		s.faultMu.Lock()
		delete(f.waiters, ch)
		s.faultMu.Unlock()
	}()
	for {
		first := f.first
		s.faultMu.Unlock()
		if first != nil {
			return *first, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Record{}, fmt.Errorf("mqtttest: waiting for a fault to match: %w", ctx.Err())
		}
		s.faultMu.Lock()
	}
}
