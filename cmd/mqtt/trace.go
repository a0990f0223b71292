package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/culex-mqtt/mqtt/wire"
)

// tracer prints the packets of -d as they pass, one line each. It runs on
// the client's goroutines (DialOptions.OnPacketSent and OnPacketReceived),
// so w must be safe for concurrent use.
//
// It never prints a password, nor authentication data, which may be one.
// Payloads are shown by their length only: they may be binary, and they
// are what the command prints anyway.
type tracer struct {
	w      io.Writer
	prefix string
}

func (t *tracer) sent(p wire.Packet)     { t.print("sent", p) }
func (t *tracer) received(p wire.Packet) { t.print("received", p) }

func (t *tracer) print(dir string, p wire.Packet) {
	// One Write per line, so that lines from two goroutines never mix.
	fmt.Fprintf(t.w, "%s%s %s\n", t.prefix, dir, describe(p))
}

// describe returns a packet as one line: its type, then what matters of
// it.
func describe(p wire.Packet) string {
	var f []string
	add := func(format string, args ...any) { f = append(f, fmt.Sprintf(format, args...)) }
	switch p := p.(type) {
	case *wire.Connect:
		add("client ID %q", p.ClientID)
		if p.CleanStart {
			add("clean start")
		} else {
			add("resume session")
		}
		add("keep alive %ds", p.KeepAlive)
		if p.Username != "" || p.UsernameFlag {
			add("user %q", p.Username)
		}
		if p.Password != nil || p.PasswordFlag {
			add("password (not shown)")
		}
		if w := p.Will; w != nil {
			add("will %q QoS %d%s, %d bytes", w.Topic, w.QoS, retainWord(w.Retain), len(w.Payload))
		}
		f = append(f, props(p.Properties)...)
	case *wire.Connack:
		add("%s", p.ReasonCode)
		if p.SessionPresent {
			add("session present")
		}
		f = append(f, props(p.Properties)...)
	case *wire.Publish:
		if p.QoS > 0 {
			add("id %d", p.PacketID)
		}
		add("QoS %d%s", p.QoS, retainWord(p.Retain))
		if p.Dup {
			add("duplicate")
		}
		add("topic %q", p.Topic)
		add("%d bytes", len(p.Payload))
		f = append(f, props(p.Properties)...)
	case *wire.Puback:
		f = ack(f, p.PacketID, p.ReasonCode, p.Properties)
	case *wire.Pubrec:
		f = ack(f, p.PacketID, p.ReasonCode, p.Properties)
	case *wire.Pubrel:
		f = ack(f, p.PacketID, p.ReasonCode, p.Properties)
	case *wire.Pubcomp:
		f = ack(f, p.PacketID, p.ReasonCode, p.Properties)
	case *wire.Subscribe:
		add("id %d", p.PacketID)
		for _, fl := range p.Filters {
			opts := ""
			if fl.NoLocal {
				opts += ", no local"
			}
			if fl.RetainAsPublished {
				opts += ", retain as published"
			}
			if fl.RetainHandling != 0 {
				opts += fmt.Sprintf(", retain handling %d", fl.RetainHandling)
			}
			add("%q QoS %d%s", fl.Topic, fl.QoS, opts)
		}
		f = append(f, props(p.Properties)...)
	case *wire.Suback:
		add("id %d", p.PacketID)
		for _, c := range p.ReasonCodes {
			add("%s", c)
		}
		f = append(f, props(p.Properties)...)
	case *wire.Unsubscribe:
		add("id %d", p.PacketID)
		for _, t := range p.Topics {
			add("%q", t)
		}
	case *wire.Unsuback:
		add("id %d", p.PacketID)
		for _, c := range p.ReasonCodes {
			add("%s", c)
		}
		f = append(f, props(p.Properties)...)
	case *wire.Disconnect:
		add("%s", p.ReasonCode)
		f = append(f, props(p.Properties)...)
	case *wire.Auth:
		add("%s", p.ReasonCode)
		if pr := p.Properties; pr != nil && pr.AuthMethod != "" {
			add("method %q", pr.AuthMethod)
		}
	}
	if len(f) == 0 {
		return p.Type().String()
	}
	return p.Type().String() + " (" + strings.Join(f, ", ") + ")"
}

func ack(f []string, id uint16, rc wire.ReasonCode, pr *wire.Properties) []string {
	f = append(f, fmt.Sprintf("id %d", id), rc.String())
	return append(f, props(pr)...)
}

func retainWord(r bool) string {
	if r {
		return " retained"
	}
	return ""
}

// props lists the properties worth seeing in a trace. Authentication data
// is left out, as the password is.
func props(p *wire.Properties) []string {
	if p == nil {
		return nil
	}
	var f []string
	add := func(format string, args ...any) { f = append(f, fmt.Sprintf(format, args...)) }
	if p.SessionExpiry != nil {
		add("session expiry %ds", *p.SessionExpiry)
	}
	if p.AssignedClientID != "" {
		add("assigned client ID %q", p.AssignedClientID)
	}
	if p.ServerKeepAlive != nil {
		add("server keep alive %ds", *p.ServerKeepAlive)
	}
	if p.ReceiveMaximum != 0 {
		add("receive maximum %d", p.ReceiveMaximum)
	}
	if p.MaximumQoS != nil {
		add("maximum QoS %d", *p.MaximumQoS)
	}
	if p.TopicAlias != 0 {
		add("topic alias %d", p.TopicAlias)
	}
	if p.ContentType != "" {
		add("content type %q", p.ContentType)
	}
	if p.ResponseTopic != "" {
		add("response topic %q", p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		add("correlation data %d bytes", len(p.CorrelationData))
	}
	if p.MessageExpiry != nil {
		add("message expiry %ds", *p.MessageExpiry)
	}
	if p.PayloadFormat != 0 {
		add("payload format %d", p.PayloadFormat)
	}
	for _, id := range p.SubscriptionIDs {
		add("subscription ID %d", id)
	}
	if p.ReasonString != "" {
		add("reason %q", p.ReasonString)
	}
	if p.ServerReference != "" {
		add("server reference %q", p.ServerReference)
	}
	for _, u := range p.UserProperties {
		add("user property %q=%q", u.Key, u.Value)
	}
	return f
}
