package mqtt

import (
	"sync/atomic"

	"github.com/culex-mqtt/mqtt/persist"
	"github.com/culex-mqtt/mqtt/wire"
)

// Stats are a Client's counters since Dial, cheap enough to be always on:
// an atomic add on the path each one counts. Read them with Client.Stats,
// for instance to publish with expvar (see the Example).
type Stats struct {
	PacketsSent, PacketsReceived uint64 // MQTT control packets
	BytesSent, BytesReceived     uint64 // their bytes (without TLS or WebSocket framing)

	Published [3]uint64 // messages Publish completed, by QoS: written (0), acknowledged (1 and 2)
	Delivered [3]uint64 // messages Subscription.Next handed out, by QoS

	InFlightOut int // QoS 1 and 2 messages sent and not yet acknowledged (PUBACK, PUBCOMP)
	InFlightIn  int // QoS 1 and 2 messages received on the connection, not yet answered

	Resent      uint64 // PUBLISH (with DUP) and PUBREL packets sent again on a new connection
	Reconnects  uint64 // connections made after Dial's
	Dropped     uint64 // messages dropped: see Subscription.Dropped and Client.Dropped
	StoreWrites uint64 // changes to the Store (each Put or Delete, or one batch): with a durable Store, a sync each
}

// counters are the Client's Stats as they run.
type counters struct {
	packetsSent, packetsReceived atomic.Uint64
	bytesSent, bytesReceived     atomic.Uint64
	published, delivered         [3]atomic.Uint64
	resent, reconnects           atomic.Uint64
	dropped, storeWrites         atomic.Uint64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	k := &c.stats
	s := Stats{
		PacketsSent:     k.packetsSent.Load(),
		PacketsReceived: k.packetsReceived.Load(),
		BytesSent:       k.bytesSent.Load(),
		BytesReceived:   k.bytesReceived.Load(),
		Resent:          k.resent.Load(),
		Reconnects:      k.reconnects.Load(),
		Dropped:         k.dropped.Load(),
		StoreWrites:     k.storeWrites.Load(),
	}
	for q := range 3 {
		s.Published[q] = k.published[q].Load()
		s.Delivered[q] = k.delivered[q].Load()
	}
	s.InFlightOut = c.sess.inFlight()
	if cn := c.current(); cn != nil {
		s.InFlightIn = int(cn.inCount.Load())
	}
	return s
}

// inFlight counts the QoS 1 and 2 messages awaiting their acknowledgement.
func (s *session) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, o := range s.ops {
		if o.kind == wire.PUBLISH || o.kind == wire.PUBREL {
			n++
		}
	}
	return n
}

// countingStore counts the changes made to the Store it wraps
// (Stats.StoreWrites): one for each Put, Delete or Reset, one for each
// batch of changes, which a durable Store makes with one sync.
type countingStore struct {
	persist.Store
	writes *atomic.Uint64
}

func (s countingStore) Put(dir persist.Direction, id uint16, data []byte) error {
	s.writes.Add(1)
	return s.Store.Put(dir, id, data)
}

func (s countingStore) Delete(dir persist.Direction, id uint16) error {
	s.writes.Add(1)
	return s.Store.Delete(dir, id)
}

func (s countingStore) Reset(dir persist.Direction) error {
	s.writes.Add(1)
	return s.Store.Reset(dir)
}

// Apply keeps the wrapped Store's batching (persist.Batcher).
func (s countingStore) Apply(changes []persist.Change) error {
	s.writes.Add(1)
	return persist.Apply(s.Store, changes)
}
