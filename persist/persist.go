// Package persist stores the MQTT session state a client must keep across
// reconnects and restarts: every outgoing QoS 1/2 PUBLISH (or the PUBREL that
// replaces it in a QoS 2 flow) from before its first byte is sent until it is
// acknowledged, and the packet IDs of incoming QoS 2 messages that were
// answered with PUBREC but whose PUBREL has not arrived yet.
//
// The store never interprets the bytes it holds; the client stores encoded
// packets. Two implementations are provided: [NewMemory], which lives as long
// as the process, and [Open], a durable store in a directory that survives
// kill -9 and, as far as fsync promises, power loss.
package persist

import (
	"errors"
	"fmt"
	"strconv"
)

// Direction says which side of the session an entry belongs to. Each
// direction is an independent key space: the same packet ID may be stored
// once as Outgoing and once as Incoming.
type Direction uint8

const (
	// Outgoing entries are our QoS 1/2 PUBLISH or PUBREL packets that await
	// acknowledgement from the server.
	Outgoing Direction = 1
	// Incoming entries record QoS 2 packet IDs we received and answered with
	// PUBREC but for which PUBREL has not arrived; they make exactly-once
	// delivery hold across restarts.
	Incoming Direction = 2
)

// String returns "outgoing" or "incoming", or "Direction(n)" for any other
// value, so that log lines and errors stay readable. It never blocks.
func (d Direction) String() string {
	switch d {
	case Outgoing:
		return "outgoing"
	case Incoming:
		return "incoming"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// valid reports whether d is one of the two defined directions.
func (d Direction) valid() bool { return d == Outgoing || d == Incoming }

// Entry is one stored packet as returned by Store.Load.
type Entry struct {
	// ID is the MQTT packet ID the entry is keyed by.
	ID uint16
	// Data is the stored bytes. Load returns a copy the caller may keep
	// and modify.
	Data []byte
}

// Store holds session state keyed by direction and packet ID.
// Implementations are safe for concurrent use by multiple goroutines; each
// method blocks until its effect is as durable as the implementation
// promises (see NewMemory and Open), and no longer.
type Store interface {
	// Put stores data under (dir, id), replacing any previous value for
	// that key but keeping the key's position in the order. When Put
	// returns nil the entry is as durable as the store promises, so a
	// durable store blocks until the data is on disk. Put does not retain
	// data after it returns.
	Put(dir Direction, id uint16, data []byte) error
	// Delete removes (dir, id); deleting an absent key is not an error.
	// Like Put it returns only once the removal is as durable as the store
	// promises.
	Delete(dir Direction, id uint16) error
	// Load returns every entry of dir in the order its key was first Put;
	// replacing a value keeps the position, while deleting and putting the
	// key again moves it to the end. The returned entries are copies. A
	// durable store reads the values from disk and holds off commits while
	// it does, which suits its use: once, when a session resumes.
	Load(dir Direction) ([]Entry, error)
	// Reset removes every entry of dir, durably, leaving the other
	// direction untouched.
	Reset(dir Direction) error
	// Close releases the store and waits for work already accepted to
	// finish; later calls return ErrClosed. Calling Close again returns nil.
	Close() error
}

// Change is one Put or Delete, for Apply.
type Change struct {
	Dir    Direction
	ID     uint16
	Data   []byte // the value to Put
	Delete bool   // remove (Dir, ID) instead of putting Data
}

// Batcher is implemented by a Store that applies many changes for the cost
// of one; the durable store writes them together with one sync. Apply
// returns once every change is as durable as Put and Delete would have
// made it; the changes take effect in order. Like Put, it does not retain
// the changes' data after it returns.
type Batcher interface {
	Apply(changes []Change) error
}

// Apply makes the changes to s, in order: in one call when s is a Batcher,
// else one by one, stopping at the first error. A client that receives
// many acknowledgements at once removes their messages with one Apply.
func Apply(s Store, changes []Change) error {
	if b, ok := s.(Batcher); ok {
		return b.Apply(changes)
	}
	for _, ch := range changes {
		var err error
		if ch.Delete {
			err = s.Delete(ch.Dir, ch.ID)
		} else {
			err = s.Put(ch.Dir, ch.ID, ch.Data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkChanges validates changes for Apply.
func checkChanges(changes []Change) error {
	for _, ch := range changes {
		if err := checkPut(ch.Dir, len(ch.Data)); err != nil {
			return err
		}
	}
	return nil
}

// ErrClosed is returned by every Store method called after Close.
var ErrClosed = errors.New("persist: store is closed")

// ErrCorrupt is wrapped by the error Open returns when the log is damaged
// somewhere other than at its end (later writes follow the damage), or is
// not a log at all. Such damage cannot come from an interrupted write, so
// Open refuses to guess which session state is right rather than silently
// dropping acknowledged entries; test for it with errors.Is. The wrapping
// error names the file and the byte offset of the damage.
var ErrCorrupt = errors.New("persist: session log is corrupt")

// ErrLocked is wrapped by the error Open returns when the directory is
// already open, by another process or by another Store in this process.
// Two writers would interleave their records and destroy the session.
var ErrLocked = errors.New("persist: store directory is in use by another process or Store")

// maxData is the largest value Put accepts. The biggest MQTT packet is
// 1 + 4 + 268435455 bytes; the slack keeps any encoded packet storable while
// still bounding every length read back from disk.
const maxData = 256<<20 + 64

// checkPut validates the arguments shared by both implementations.
func checkPut(dir Direction, size int) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	if size > maxData {
		return fmt.Errorf("persist: value of %d bytes exceeds the limit of %d bytes", size, maxData)
	}
	return nil
}

func checkDir(dir Direction) error {
	if !dir.valid() {
		return fmt.Errorf("persist: invalid direction %v", dir)
	}
	return nil
}
