package bench

// Names in the wire_ files contain "wire" or name a codec, so that the client
// benchmarks of this package can pick their own.

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/culex-mqtt/mqtt/wire"
	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
)

// The codecs compared. Each is the last element of a sub-benchmark's name;
// cmd/ratio pairs culex-v5 with paho.golang and culex-v311 with
// paho.mqtt.golang.
const (
	codecCulexV5   = "culex-v5"
	codecPahoV5    = "paho.golang"
	codecCulexV311 = "culex-v311"
	codecPahoV311  = "paho.mqtt.golang"
)

// wireCase is one packet as culex holds it, for MQTT 5.0 and for 3.1.1. The
// paho forms are derived from it (toPaho5, toPaho3) and checked against it by
// decoding each codec's bytes with the other codec.
type wireCase struct {
	name string
	v5   wire.Packet // nil: no MQTT 5.0 form
	v311 wire.Packet // nil: no MQTT 3.1.1 form

	// reordered says that paho.golang writes the v5 properties in another
	// order than culex: the two encodings then have the same length and the
	// same meaning, but not the same bytes.
	reordered bool
}

// wireEncodings holds each codec's encoding of a case, keyed by codec name.
type wireEncodings map[string][]byte

// check encodes c with every codec and decodes every encoding with the codec
// of the other project and with culex. Each decoded packet must equal the case.
// It returns the encodings.
func (c *wireCase) check(tb testing.TB) wireEncodings {
	tb.Helper()
	enc := wireEncodings{}
	if c.v5 != nil {
		cb := appendCulex(tb, c.v5, wire.V5)
		pb := writePaho5(tb, toPaho5(tb, c.v5))
		switch {
		case !c.reordered && !bytes.Equal(cb, pb):
			tb.Fatalf("%s v5: culex and paho.golang encode different bytes:\nculex % x\npaho  % x", c.name, wireHead(cb), wireHead(pb))
		case c.reordered && len(cb) != len(pb):
			tb.Fatalf("%s v5: culex encodes %d bytes, paho.golang %d", c.name, len(cb), len(pb))
		}
		sameWirePacket(tb, c.name+": culex v5 bytes read by paho.golang", fromPaho5(tb, readPaho5(tb, cb)), c.v5)
		sameWirePacket(tb, c.name+": paho.golang bytes read by culex", parseCulex(tb, pb, wire.V5), c.v5)
		sameWirePacket(tb, c.name+": culex v5 bytes read by culex", parseCulex(tb, cb, wire.V5), c.v5)
		enc[codecCulexV5], enc[codecPahoV5] = cb, pb
	}
	if c.v311 != nil {
		cb := appendCulex(tb, c.v311, wire.V311)
		pb := writePaho3(tb, toPaho3(tb, c.v311))
		if !bytes.Equal(cb, pb) {
			tb.Fatalf("%s v3.1.1: culex and paho.mqtt.golang encode different bytes:\nculex % x\npaho  % x", c.name, wireHead(cb), wireHead(pb))
		}
		sameWirePacket(tb, c.name+": culex v3.1.1 bytes read by paho.mqtt.golang", fromPaho3(tb, readPaho3(tb, cb)), c.v311)
		sameWirePacket(tb, c.name+": paho.mqtt.golang bytes read by culex", parseCulex(tb, pb, wire.V311), c.v311)
		enc[codecCulexV311], enc[codecPahoV311] = cb, pb
	}
	return enc
}

// TestWireInterop checks that culex and the paho codecs understand each
// other: each side's encoding of a packet, read by the other side, gives the
// packet back. It covers the benchmarked packets and a few more.
func TestWireInterop(t *testing.T) {
	cases := []*wireCase{wireConnectCase(), wireSubscribeCase()}
	for _, s := range wirePayloadSizes {
		cases = append(cases, wirePublishCase(s.name, s.n))
	}
	cases = append(cases, wireExtraCases()...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t) })
	}
}

// The benchmarked packets.

const (
	wirePubTopic = "sensors/building-7/floor-3/room-12/temperature"
	wirePubID    = 4242
)

var wirePayloadSizes = []struct {
	name string
	n    int
}{
	{"16B", 16},
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
}

// wirePublishCase is a QoS 1 PUBLISH without properties carrying n bytes.
func wirePublishCase(name string, n int) *wireCase {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	return &wireCase{
		name: "publish-" + name,
		v5:   &wire.Publish{QoS: 1, Topic: wirePubTopic, PacketID: wirePubID, Payload: payload},
		v311: &wire.Publish{QoS: 1, Topic: wirePubTopic, PacketID: wirePubID, Payload: payload},
	}
}

// wireConnectCase is a client's CONNECT with a will, a user name and a password;
// in v5 with connect and will properties.
func wireConnectCase() *wireCase {
	connect := func(v wire.Version) *wire.Connect {
		c := &wire.Connect{
			Version:    v,
			CleanStart: true,
			KeepAlive:  30,
			ClientID:   "bench-client-0001",
			Will: &wire.Will{
				Topic:   "clients/bench-client-0001/status",
				Payload: []byte("offline"),
				QoS:     1,
				Retain:  true,
			},
			Username:     "bench-user",
			UsernameFlag: true,
			Password:     []byte("s3cret-passw0rd"),
			PasswordFlag: true,
		}
		if v == wire.V5 {
			expiry := uint32(3600)
			c.Properties = &wire.Properties{
				SessionExpiry:     &expiry,
				ReceiveMaximum:    100,
				TopicAliasMaximum: 16,
				MaximumPacketSize: 1 << 20,
				UserProperties: []wire.UserProperty{
					{Key: "app", Value: "culex-bench"},
					{Key: "region", Value: "eu-west-1"},
				},
			}
			c.Will.Properties = &wire.Properties{
				WillDelay:      30,
				UserProperties: []wire.UserProperty{{Key: "cause", Value: "connection lost"}},
			}
		}
		return c
	}
	return &wireCase{name: "connect", v5: connect(wire.V5), v311: connect(wire.V311), reordered: true}
}

// wireSubscribeCase is a SUBSCRIBE with three filters; in v5 with subscription
// options and a subscription identifier.
func wireSubscribeCase() *wireCase {
	return &wireCase{
		name: "subscribe",
		v5: &wire.Subscribe{
			PacketID:   17,
			Properties: &wire.Properties{SubscriptionIDs: []int{7}},
			Filters: []wire.Filter{
				{Topic: "sensors/+/temperature", QoS: 1, NoLocal: true},
				{Topic: "alerts/#", QoS: 2, RetainAsPublished: true, RetainHandling: 1},
				{Topic: "devices/dev-0042/commands", QoS: 0, RetainHandling: 2},
			},
		},
		v311: &wire.Subscribe{
			PacketID: 17,
			Filters: []wire.Filter{
				{Topic: "sensors/+/temperature", QoS: 1},
				{Topic: "alerts/#", QoS: 2},
				{Topic: "devices/dev-0042/commands", QoS: 0},
			},
		},
	}
}

// wireExtraCases are checked by TestWireInterop only.
func wireExtraCases() []*wireCase {
	expiry := uint32(60)
	no := false
	return []*wireCase{{
		name: "publish-qos0-properties",
		v5: &wire.Publish{Retain: true, Topic: "a/b", Payload: []byte(`{"t":21.5}`),
			Properties: &wire.Properties{
				PayloadFormat:   1,
				MessageExpiry:   &expiry,
				ContentType:     "application/json",
				ResponseTopic:   "replies/bench",
				CorrelationData: []byte{1, 2, 3, 4},
				UserProperties:  []wire.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "v2"}},
			}},
		v311: &wire.Publish{Retain: true, Topic: "a/b", Payload: []byte(`{"t":21.5}`)},
	}, {
		name: "publish-qos2-dup-empty",
		v5:   &wire.Publish{Dup: true, QoS: 2, PacketID: 65535, Topic: "x", Payload: []byte{}},
		v311: &wire.Publish{Dup: true, QoS: 2, PacketID: 65535, Topic: "x", Payload: []byte{}},
	}, {
		name: "publish-utf8-topic",
		v5:   &wire.Publish{QoS: 1, PacketID: 1, Topic: "capteurs/température/σ", Payload: []byte{0, 0xff}},
		v311: &wire.Publish{QoS: 1, PacketID: 1, Topic: "capteurs/température/σ", Payload: []byte{0, 0xff}},
	}, {
		name: "connect-minimal",
		v5:   &wire.Connect{Version: wire.V5, CleanStart: true},
		v311: &wire.Connect{Version: wire.V311, CleanStart: true},
	}, {
		name: "connect-auth",
		v5: &wire.Connect{Version: wire.V5, ClientID: "c1", Username: "u", UsernameFlag: true,
			Will: &wire.Will{Topic: "w", Payload: []byte{}, QoS: 2},
			Properties: &wire.Properties{
				AuthMethod:          "SCRAM-SHA-256",
				AuthData:            []byte("client-first-message"),
				RequestProblemInfo:  &no,
				RequestResponseInfo: true,
			}},
		v311: &wire.Connect{Version: wire.V311, ClientID: "c1", Username: "u", UsernameFlag: true,
			Will: &wire.Will{Topic: "w", Payload: []byte{}, QoS: 2}},
		reordered: true,
	}, {
		name: "subscribe-shared",
		v5: &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{
			{Topic: "$share/workers/jobs/+", QoS: 1, RetainHandling: 2},
		}},
		v311: &wire.Subscribe{PacketID: 1, Filters: []wire.Filter{
			{Topic: "$share/workers/jobs/+", QoS: 1},
		}},
	}}
}

// Encoding and decoding with each codec, outside the benchmark loops.

func appendCulex(tb testing.TB, p wire.Packet, v wire.Version) []byte {
	tb.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		tb.Fatalf("culex %v %v: %v", p.Type(), v, err)
	}
	return b
}

func parseCulex(tb testing.TB, b []byte, v wire.Version) wire.Packet {
	tb.Helper()
	p, n, err := wire.Parse(b, v)
	if err != nil {
		tb.Fatalf("culex decoding %v: %v", v, err)
	}
	if n != len(b) {
		tb.Fatalf("culex decoded %d of %d bytes", n, len(b))
	}
	return p
}

func writePaho5(tb testing.TB, p paho5.Packet) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		tb.Fatalf("paho.golang: %v", err)
	}
	return buf.Bytes()
}

func readPaho5(tb testing.TB, b []byte) *paho5.ControlPacket {
	tb.Helper()
	r := bytes.NewReader(b)
	cp, err := paho5.ReadPacket(r)
	if err != nil {
		tb.Fatalf("paho.golang decoding: %v", err)
	}
	if r.Len() != 0 {
		tb.Fatalf("paho.golang left %d of %d bytes", r.Len(), len(b))
	}
	return cp
}

func writePaho3(tb testing.TB, p paho3.ControlPacket) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		tb.Fatalf("paho.mqtt.golang: %v", err)
	}
	return buf.Bytes()
}

func readPaho3(tb testing.TB, b []byte) paho3.ControlPacket {
	tb.Helper()
	r := bytes.NewReader(b)
	cp, err := paho3.ReadPacket(r)
	if err != nil {
		tb.Fatalf("paho.mqtt.golang decoding: %v", err)
	}
	if r.Len() != 0 {
		tb.Fatalf("paho.mqtt.golang left %d of %d bytes", r.Len(), len(b))
	}
	return cp
}

// sameWirePacket fails tb when got is not want.
func sameWirePacket(tb testing.TB, what string, got, want wire.Packet) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s:\n got %s\nwant %s", what, wireDump(got), wireDump(want))
	}
}

func wireDump(p wire.Packet) string {
	j, err := json.Marshal(p)
	if err != nil {
		return err.Error()
	}
	const max = 600
	if len(j) > max {
		return string(j[:max]) + "..."
	}
	return string(j)
}

// wireHead shortens b for an error message.
func wireHead(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// Conversions between culex's packets and paho.golang's (MQTT 5.0).

func toPaho5(tb testing.TB, p wire.Packet) paho5.Packet {
	tb.Helper()
	switch p := p.(type) {
	case *wire.Publish:
		return &paho5.Publish{
			Payload:    p.Payload,
			Topic:      p.Topic,
			Properties: toPaho5Props(tb, p.Properties),
			PacketID:   p.PacketID,
			QoS:        p.QoS,
			Duplicate:  p.Dup,
			Retain:     p.Retain,
		}
	case *wire.Connect:
		c := &paho5.Connect{
			ProtocolName:    "MQTT",
			ProtocolVersion: 5,
			ClientID:        p.ClientID,
			KeepAlive:       p.KeepAlive,
			CleanStart:      p.CleanStart,
			Username:        p.Username,
			UsernameFlag:    p.UsernameFlag || p.Username != "",
			Password:        p.Password,
			PasswordFlag:    p.PasswordFlag || p.Password != nil,
			Properties:      toPaho5Props(tb, p.Properties),
		}
		if w := p.Will; w != nil {
			c.WillFlag = true
			c.WillTopic = w.Topic
			c.WillMessage = w.Payload
			c.WillQOS = w.QoS
			c.WillRetain = w.Retain
			c.WillProperties = toPaho5Props(tb, w.Properties)
		}
		return c
	case *wire.Subscribe:
		s := &paho5.Subscribe{PacketID: p.PacketID, Properties: toPaho5Props(tb, p.Properties)}
		for _, f := range p.Filters {
			s.Subscriptions = append(s.Subscriptions, paho5.SubOptions{
				Topic:             f.Topic,
				QoS:               f.QoS,
				RetainHandling:    f.RetainHandling,
				NoLocal:           f.NoLocal,
				RetainAsPublished: f.RetainAsPublished,
			})
		}
		return s
	}
	tb.Fatalf("no paho.golang form for %T", p)
	return nil
}

// toPaho5Props converts the properties a client sends. paho.golang holds at
// most one subscription identifier.
func toPaho5Props(tb testing.TB, p *wire.Properties) *paho5.Properties {
	tb.Helper()
	if p == nil {
		return nil
	}
	q := &paho5.Properties{
		MessageExpiry:         p.MessageExpiry,
		ContentType:           p.ContentType,
		ResponseTopic:         p.ResponseTopic,
		CorrelationData:       p.CorrelationData,
		SessionExpiryInterval: p.SessionExpiry,
		AuthMethod:            p.AuthMethod,
		AuthData:              p.AuthData,
		ReasonString:          p.ReasonString,
	}
	if p.PayloadFormat != 0 {
		q.PayloadFormat = &p.PayloadFormat
	}
	if p.TopicAlias != 0 {
		q.TopicAlias = &p.TopicAlias
	}
	switch len(p.SubscriptionIDs) {
	case 0:
	case 1:
		q.SubscriptionIdentifier = &p.SubscriptionIDs[0]
	default:
		tb.Fatalf("paho.golang holds one subscription identifier, not %d", len(p.SubscriptionIDs))
	}
	if p.RequestProblemInfo != nil {
		b := wireBool(*p.RequestProblemInfo)
		q.RequestProblemInfo = &b
	}
	if p.WillDelay != 0 {
		q.WillDelayInterval = &p.WillDelay
	}
	if p.RequestResponseInfo {
		b := byte(1)
		q.RequestResponseInfo = &b
	}
	if p.ReceiveMaximum != 0 {
		q.ReceiveMaximum = &p.ReceiveMaximum
	}
	if p.TopicAliasMaximum != 0 {
		q.TopicAliasMaximum = &p.TopicAliasMaximum
	}
	if p.MaximumPacketSize != 0 {
		q.MaximumPacketSize = &p.MaximumPacketSize
	}
	for _, u := range p.UserProperties {
		q.User = append(q.User, paho5.User{Key: u.Key, Value: u.Value})
	}
	return q
}

func fromPaho5(tb testing.TB, cp *paho5.ControlPacket) wire.Packet {
	tb.Helper()
	switch p := cp.Content.(type) {
	case *paho5.Publish:
		return &wire.Publish{
			Dup:        p.Duplicate,
			QoS:        p.QoS,
			Retain:     p.Retain,
			Topic:      p.Topic,
			PacketID:   p.PacketID,
			Properties: fromPaho5Props(p.Properties),
			Payload:    p.Payload,
		}
	case *paho5.Connect:
		c := &wire.Connect{
			Version:      wire.Version(p.ProtocolVersion),
			CleanStart:   p.CleanStart,
			KeepAlive:    p.KeepAlive,
			ClientID:     p.ClientID,
			Username:     p.Username,
			UsernameFlag: p.UsernameFlag,
			Password:     p.Password,
			PasswordFlag: p.PasswordFlag,
			Properties:   fromPaho5Props(p.Properties),
		}
		if p.WillFlag {
			c.Will = &wire.Will{
				Topic:      p.WillTopic,
				Payload:    p.WillMessage,
				QoS:        p.WillQOS,
				Retain:     p.WillRetain,
				Properties: fromPaho5Props(p.WillProperties),
			}
		}
		return c
	case *paho5.Subscribe:
		s := &wire.Subscribe{PacketID: p.PacketID, Properties: fromPaho5Props(p.Properties)}
		for _, o := range p.Subscriptions {
			s.Filters = append(s.Filters, wire.Filter{
				Topic:             o.Topic,
				QoS:               o.QoS,
				NoLocal:           o.NoLocal,
				RetainAsPublished: o.RetainAsPublished,
				RetainHandling:    o.RetainHandling,
			})
		}
		return s
	}
	tb.Fatalf("no culex form for paho.golang's %T", cp.Content)
	return nil
}

// fromPaho5Props converts the properties a client sends. Like culex, it gives
// nil for an empty set.
func fromPaho5Props(p *paho5.Properties) *wire.Properties {
	if p == nil {
		return nil
	}
	q := &wire.Properties{
		MessageExpiry:   p.MessageExpiry,
		ContentType:     p.ContentType,
		ResponseTopic:   p.ResponseTopic,
		CorrelationData: p.CorrelationData,
		SessionExpiry:   p.SessionExpiryInterval,
		AuthMethod:      p.AuthMethod,
		AuthData:        p.AuthData,
		ReasonString:    p.ReasonString,
	}
	if p.PayloadFormat != nil {
		q.PayloadFormat = *p.PayloadFormat
	}
	if p.TopicAlias != nil {
		q.TopicAlias = *p.TopicAlias
	}
	if p.SubscriptionIdentifier != nil {
		q.SubscriptionIDs = []int{*p.SubscriptionIdentifier}
	}
	if p.RequestProblemInfo != nil {
		b := *p.RequestProblemInfo != 0
		q.RequestProblemInfo = &b
	}
	if p.WillDelayInterval != nil {
		q.WillDelay = *p.WillDelayInterval
	}
	if p.RequestResponseInfo != nil {
		q.RequestResponseInfo = *p.RequestResponseInfo != 0
	}
	if p.ReceiveMaximum != nil {
		q.ReceiveMaximum = *p.ReceiveMaximum
	}
	if p.TopicAliasMaximum != nil {
		q.TopicAliasMaximum = *p.TopicAliasMaximum
	}
	if p.MaximumPacketSize != nil {
		q.MaximumPacketSize = *p.MaximumPacketSize
	}
	for _, u := range p.User {
		q.UserProperties = append(q.UserProperties, wire.UserProperty{Key: u.Key, Value: u.Value})
	}
	if reflect.ValueOf(q).Elem().IsZero() {
		return nil
	}
	return q
}

func wireBool(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Conversions between culex's packets and paho.mqtt.golang's (MQTT 3.1.1).

func toPaho3(tb testing.TB, p wire.Packet) paho3.ControlPacket {
	tb.Helper()
	switch p := p.(type) {
	case *wire.Publish:
		return &paho3.PublishPacket{
			FixedHeader: paho3.FixedHeader{MessageType: paho3.Publish, Dup: p.Dup, Qos: p.QoS, Retain: p.Retain},
			TopicName:   p.Topic,
			MessageID:   p.PacketID,
			Payload:     p.Payload,
		}
	case *wire.Connect:
		c := &paho3.ConnectPacket{
			FixedHeader:      paho3.FixedHeader{MessageType: paho3.Connect},
			ProtocolName:     "MQTT",
			ProtocolVersion:  4,
			CleanSession:     p.CleanStart,
			Keepalive:        p.KeepAlive,
			ClientIdentifier: p.ClientID,
			Username:         p.Username,
			UsernameFlag:     p.UsernameFlag || p.Username != "",
			Password:         p.Password,
			PasswordFlag:     p.PasswordFlag || p.Password != nil,
		}
		if w := p.Will; w != nil {
			c.WillFlag = true
			c.WillTopic = w.Topic
			c.WillMessage = w.Payload
			c.WillQos = w.QoS
			c.WillRetain = w.Retain
		}
		return c
	case *wire.Subscribe:
		s := &paho3.SubscribePacket{
			FixedHeader: paho3.FixedHeader{MessageType: paho3.Subscribe, Qos: 1},
			MessageID:   p.PacketID,
		}
		for _, f := range p.Filters {
			s.Topics = append(s.Topics, f.Topic)
			s.Qoss = append(s.Qoss, f.QoS)
		}
		return s
	}
	tb.Fatalf("no paho.mqtt.golang form for %T", p)
	return nil
}

func fromPaho3(tb testing.TB, cp paho3.ControlPacket) wire.Packet {
	tb.Helper()
	switch p := cp.(type) {
	case *paho3.PublishPacket:
		return &wire.Publish{
			Dup:      p.Dup,
			QoS:      p.Qos,
			Retain:   p.Retain,
			Topic:    p.TopicName,
			PacketID: p.MessageID,
			Payload:  p.Payload,
		}
	case *paho3.ConnectPacket:
		c := &wire.Connect{
			Version:      wire.Version(p.ProtocolVersion),
			CleanStart:   p.CleanSession,
			KeepAlive:    p.Keepalive,
			ClientID:     p.ClientIdentifier,
			Username:     p.Username,
			UsernameFlag: p.UsernameFlag,
			Password:     p.Password,
			PasswordFlag: p.PasswordFlag,
		}
		if p.WillFlag {
			c.Will = &wire.Will{Topic: p.WillTopic, Payload: p.WillMessage, QoS: p.WillQos, Retain: p.WillRetain}
		}
		return c
	case *paho3.SubscribePacket:
		s := &wire.Subscribe{PacketID: p.MessageID}
		for i, topic := range p.Topics {
			s.Filters = append(s.Filters, wire.Filter{Topic: topic, QoS: p.Qoss[i]})
		}
		return s
	}
	tb.Fatalf("no culex form for paho.mqtt.golang's %T", cp)
	return nil
}
