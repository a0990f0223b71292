package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

var pubCommand = &command{
	name:     "pub",
	summary:  "publish a message",
	synopsis: "mqtt pub -t topic (-m message | -f file | -s | -l | -n) [-q qos] [-r] [flags]",
	intro: `mqtt pub publishes one message, or one per line of standard input with -l,
waits for each acknowledgement (PUBACK at QoS 1, PUBCOMP at QoS 2), then
disconnects. It does not reconnect: a lost connection fails it with exit
status 1.`,
	flags: pubFlags,
}

// The hints for flags people bring from MQTT.js or from an earlier mqtt.
const (
	hintProtocolC = "the protocol is --protocol (MQTT.js's -C is mosquitto_sub's message count)"
	hintProtocolL = "the protocol is --protocol (MQTT.js's -l is mosquitto_pub's line mode)"
	hintURL       = "the broker's URL is -L, as in mosquitto (whose -U unsubscribes)"
)

// maxPayload is the most a PUBLISH can carry: its Remaining Length is at most
// 268,435,455 bytes, topic and header included.
const maxPayload = 268435455

// messageFlags are the flags that make the message of pub and req.
type messageFlags struct {
	topic       string
	message     string
	file        string
	stdin       bool
	lines       bool
	null        bool
	qos         int
	retain      bool
	repeat      int
	repeatDelay duration

	props *propFlags // set by the command once defined
	fs    *flagSet
	req   bool
}

// addMessageFlags defines the message flags on s; req, mosquitto_rr's
// counterpart, has no -l, -r or --repeat.
func addMessageFlags(s *flagSet, req bool) *messageFlags {
	f := &messageFlags{fs: s, req: req, repeat: 1}
	s.group("message")
	if req {
		s.stringVar(&f.topic, flagSpec{names: []string{"t", "topic"}, arg: "TOPIC", origin: mosquittoFlag,
			help: "the topic to send the request to (required, or the path of -L)"})
	} else {
		s.stringVar(&f.topic, flagSpec{names: []string{"t", "topic"}, arg: "TOPIC", origin: bothFlag,
			help: "the topic to publish to (required, or the path of -L)"})
	}
	s.stringVar(&f.message, flagSpec{names: []string{"m", "message"}, arg: "MSG", origin: bothFlag,
		help: "the payload; -m '' is an empty one"})
	s.stringVar(&f.file, flagSpec{names: []string{"f", "file"}, arg: "FILE", origin: mosquittoFlag,
		help: "the payload is the content of FILE"})
	s.boolVar(&f.stdin, flagSpec{names: []string{"s", "stdin-file", "stdin"}, origin: bothFlag,
		help: "the payload is all of standard input"})
	if !req {
		s.boolVar(&f.lines, flagSpec{names: []string{"l", "stdin-line", "multiline"}, origin: mosquittoFlag,
			help: "publish each line of standard input as a message, as the lines come, without its \\n; " +
				"an empty line is an empty message (as mosquitto_pub -l; MQTT.js calls it -M, --multiline)"})
	}
	nullHelp := "the payload is empty (with -r, that clears a retained message)"
	if req {
		nullHelp = "the payload is empty"
	}
	s.boolVar(&f.null, flagSpec{names: []string{"n", "null-message"}, origin: mosquittoFlag, help: nullHelp})
	s.intVar(&f.qos, flagSpec{names: []string{"q", "qos"}, arg: "QOS", origin: bothFlag,
		help: "0, 1 or 2 (default 0)"})
	if !req {
		s.boolVar(&f.retain, flagSpec{names: []string{"r", "retain"}, origin: bothFlag,
			help: "ask the broker to retain the message"})
		s.intVar(&f.repeat, flagSpec{names: []string{"repeat"}, arg: "N", origin: mosquittoFlag,
			help: "publish the message N times (default 1)"})
		s.define(&f.repeatDelay, flagSpec{names: []string{"repeat-delay"}, arg: "D", origin: mosquittoFlag,
			help: "wait D (seconds, or 250ms) between the messages of --repeat"})
	}
	return f
}

// resolve checks the message flags and returns the message they describe,
// without the payload of -f, -s and -l, which resolve does not read.
// urlTopics are the topics in the paths of -L.
func (f *messageFlags) resolve(urlTopics []string) (mqtt.Message, error) {
	topic := f.topic
	if topic == "" {
		switch len(urlTopics) {
		case 0:
			if f.req {
				return mqtt.Message{}, usagef("-t is required: the topic to send the request to")
			}
			return mqtt.Message{}, usagef("-t is required: the topic to publish to")
		case 1:
			topic = urlTopics[0]
		default:
			return mqtt.Message{}, usagef("the -L URLs name different topics (%q and %q); give one with -t", urlTopics[0], urlTopics[1])
		}
	}
	if err := wire.CheckTopicName(topic); err != nil {
		return mqtt.Message{}, usagef("-t: %v", err)
	}
	hasMessage := f.fs.isSet("m")
	sources := btoi(hasMessage) + btoi(f.file != "") + btoi(f.stdin) + btoi(f.lines) + btoi(f.null)
	switch {
	case sources > 1:
		if f.req {
			return mqtt.Message{}, usagef("-m, -f, -s and -n each give the message; use one")
		}
		return mqtt.Message{}, usagef("-m, -f, -s, -l and -n each give the message; use one")
	case sources == 0:
		if f.req {
			return mqtt.Message{}, usagef("no message: give it with -m, -f FILE, -s (standard input), or -n for an empty one")
		}
		return mqtt.Message{}, usagef("no message: give it with -m, -f FILE, -s (standard input), -l (a message per line), or -n for an empty one")
	case f.repeat < 1:
		return mqtt.Message{}, usagef("--repeat %d: publish at least once", f.repeat)
	case f.lines && f.repeat != 1:
		return mqtt.Message{}, usagef("--repeat with -l: each line is published once")
	case f.repeatDelay < 0:
		return mqtt.Message{}, usagef("--repeat-delay cannot be negative")
	}
	q, err := checkQoS("-q", f.qos)
	if err != nil {
		return mqtt.Message{}, err
	}
	p := &f.props.publish
	m := mqtt.Message{
		Topic: topic, Payload: []byte(f.message), QoS: q, Retain: f.retain,
		PayloadFormat: p.PayloadFormat, MessageExpiry: p.MessageExpiry, ContentType: p.ContentType,
		ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData, UserProperties: p.UserProperties,
	}
	if m.ResponseTopic != "" {
		if err := wire.CheckTopicName(m.ResponseTopic); err != nil {
			return mqtt.Message{}, usagef("the response topic: %v", err)
		}
	}
	if err := checkStrings("the message's", &m); err != nil {
		return mqtt.Message{}, err
	}
	return m, nil
}

// readPayload reads the payload of -f or -s, if one of them is given.
func (f *messageFlags) readPayload(e *env, m *mqtt.Message) error {
	var r io.Reader
	var what string
	switch {
	case f.file != "":
		fl, err := os.Open(f.file)
		if err != nil {
			return err
		}
		defer fl.Close()
		r, what = fl, f.file
	case f.stdin:
		r, what = e.stdin, "standard input"
	default:
		return nil
	}
	// ReadAll one byte past the limit tells "too large" apart from
	// "exactly the limit" without holding more than that.
	b, err := io.ReadAll(io.LimitReader(r, maxPayload+1))
	if err != nil {
		return fmt.Errorf("reading the message from %s: %w", what, err)
	}
	if len(b) > maxPayload {
		return fmt.Errorf("%s holds more than %d bytes, the most an MQTT message can carry", what, maxPayload)
	}
	m.Payload = b
	return nil
}

// pubFlags defines the flags of "mqtt pub".
func pubFlags() (*flagSet, func(context.Context, *env) error) {
	fs := newFlagSet("pub")
	msg := addMessageFlags(fs, false)
	props := addPropFlags(fs, true, true)
	msg.props = props
	conn := addConnFlags(fs, connKinds{session: true, will: true}, props)
	fs.hints["C"] = hintProtocolC
	fs.hints["U"] = hintURL
	fs.hints["M"] = "-M is mosquitto_pub's limit of messages in flight, which mqtt pub does not have; " +
		"a message per line of standard input is -l (MQTT.js's -M, --multiline)"
	fs.hints["e"] = "the message expiry is --message-expiry; -e is mosquitto_rr's response topic"
	fs.hints["count"] = "the number of times to publish is --repeat, as in mosquitto_pub"

	return fs, func(ctx context.Context, e *env) error {
		// Check the whole command line before reading stdin or
		// connecting: a typo should not cost a network round trip.
		if err := conn.resolve(e); err != nil {
			return err
		}
		m, err := msg.resolve(conn.urlTopics)
		if err != nil {
			return err
		}
		if err := msg.readPayload(e, &m); err != nil {
			return err
		}

		c, err := conn.dial(ctx, conn.options(e, conn.clientID, ""))
		if err != nil {
			return err
		}
		defer c.Close()
		if msg.lines {
			err = publishLines(ctx, c, m, e.stdin)
		} else {
			err = publishRepeated(ctx, c, m, msg.repeat, time.Duration(msg.repeatDelay))
		}
		if err != nil {
			// Disconnect anyway, so that the broker does not publish
			// the will because of a refused message.
			disconnect(ctx, c)
			return err
		}
		return disconnect(ctx, c)
	}
}

// publishRepeated publishes m n times, delay apart.
func publishRepeated(ctx context.Context, c *mqtt.Client, m mqtt.Message, n int, delay time.Duration) error {
	for i := range n {
		if i > 0 && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := c.Publish(ctx, m); err != nil {
			if n > 1 {
				return fmt.Errorf("message %d of %d: %w", i+1, n, err)
			}
			return err
		}
	}
	return nil
}

// publishLines publishes each line of r as a message like m, as the lines
// come: a producer piped into mqtt pub -l sends as it goes. As with
// mosquitto_pub -l, an empty line is an empty message and only the "\n" is
// taken off a line.
func publishLines(ctx context.Context, c *mqtt.Client, m mqtt.Message, r io.Reader) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading line %d of standard input: %w", n, err)
		}
		m.Payload = line
		if err := c.Publish(ctx, m); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
}

// readLine returns the next line of br without its "\n", and io.EOF after
// the last. A line longer than an MQTT message can carry is an error.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(line)+len(part) > maxPayload+1 {
			return nil, fmt.Errorf("a line of more than %d bytes, the most an MQTT message can carry", maxPayload)
		}
		line = append(line, part...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			err = nil // the last line, without a line ending
		}
		if err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(line, []byte("\n")), nil
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
