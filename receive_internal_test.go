package mqtt

import (
	"hash/maphash"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
)

// releasedQoS2 remembers the last maxReleased releases and no more, and a
// client that receives no QoS 2 message pays nothing for the memory.
func TestReleasedQoS2Bound(t *testing.T) {
	var r releasedQoS2
	r.seed = maphash.MakeSeed()
	if r.ring != nil {
		t.Fatal("a new releasedQoS2 holds a ring")
	}
	const total = maxReleased + 100
	msg := func(id uint16, dup bool) *wire.Publish {
		return &wire.Publish{Topic: "t", QoS: 2, PacketID: id, Dup: dup, Payload: []byte{byte(id), byte(id >> 8)}}
	}
	for i := range total {
		id := uint16(i%65535 + 1)
		if r.resent(msg(id, false)) {
			t.Fatalf("message %d taken for a resend", id)
		}
		r.release(id)
	}
	if len(r.ring) != maxReleased || len(r.released) != maxReleased {
		t.Fatalf("ring of %d, %d remembered after %d releases; want %d each", len(r.ring), len(r.released), total, maxReleased)
	}
	// The oldest 100 are forgotten, the rest are still known as released.
	if r.resent(msg(1, true)) {
		t.Error("the first release, 1,124 releases ago, is still remembered")
	}
	if !r.resent(msg(total, true)) {
		t.Error("the last release is not remembered")
	}
	if !r.resent(msg(101, true)) {
		t.Error("the oldest release within the bound is not remembered")
	}
}
