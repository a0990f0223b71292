package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/culex-mqtt/mqtt"
)

var pubCommand = &command{
	name:     "pub",
	summary:  "publish a message",
	synopsis: "mqtt pub -t topic (-m message | -s | -M) [-q qos] [-r] [-n count] [connection flags]",
	usage: `usage: mqtt pub -t topic (-m message | -s | -M) [flags]

mqtt pub publishes one message (or the same message -n times, or a message
per line of standard input), waits for each acknowledgement (PUBACK at QoS 1,
PUBCOMP at QoS 2), then disconnects. It does not reconnect: a lost
connection fails it with exit status 1.

message:
  -t, --topic TOPIC        topic to publish to (required)
  -m, --message MSG        the payload; -m '' sends an empty one (which
                           clears a retained message with -r)
  -s, --stdin              read the payload from standard input, all of it as
                           one message
  -M, --multiline          publish each line of standard input as a message,
                           as it comes, without its line ending; blank lines
                           are skipped
  -q, --qos QOS            0, 1 or 2 (default 0)
  -r, --retain             ask the broker to retain the message
  -n, --count N            publish the message N times (default 1)
  -D, --user-property K=V  an MQTT 5.0 user property; may be repeated
  -e, --message-expiry D   MQTT 5.0: the message expires after D (10s, 1h,
                           or seconds) if the broker cannot deliver it sooner
      --content-type TYPE  MQTT 5.0: the payload's content type (a MIME type)
      --payload-utf8       MQTT 5.0: say that the payload is UTF-8 text
      --response-topic T   MQTT 5.0: where a responder should answer
      --correlation-data D MQTT 5.0: data the responder sends back

` + connUsage + "\n" + willUsage,
	flags: pubFlags,
}

// maxPayload is the most a PUBLISH can carry: its Remaining Length is at most
// 268,435,455 bytes, topic and header included.
const maxPayload = 268435455

// pubFlags defines the flags of "mqtt pub".
func pubFlags() (*flag.FlagSet, func(context.Context, *env, *flag.FlagSet) error) {
	fs := flag.NewFlagSet("pub", flag.ContinueOnError)
	conn := addConnFlags(fs)
	conn.addWill(fs)
	var (
		topic, message string
		stdin, retain  bool
		multiline      bool
		qos            int
		count          int
		props          stringList
		expiry         duration
		contentType    string
		utf8Payload    bool
		responseTopic  string
		correlation    string
	)
	for _, n := range []string{"t", "topic"} {
		fs.StringVar(&topic, n, "", "")
	}
	for _, n := range []string{"m", "message"} {
		fs.StringVar(&message, n, "", "")
	}
	for _, n := range []string{"s", "stdin"} {
		fs.BoolVar(&stdin, n, false, "")
	}
	for _, n := range []string{"M", "multiline"} {
		fs.BoolVar(&multiline, n, false, "")
	}
	for _, n := range []string{"q", "qos"} {
		fs.IntVar(&qos, n, 0, "")
	}
	for _, n := range []string{"r", "retain"} {
		fs.BoolVar(&retain, n, false, "")
	}
	for _, n := range []string{"n", "count"} {
		fs.IntVar(&count, n, 1, "")
	}
	for _, n := range []string{"D", "user-property"} {
		fs.Var(&props, n, "")
	}
	for _, n := range []string{"e", "message-expiry"} {
		fs.Var(&expiry, n, "")
	}
	fs.StringVar(&contentType, "content-type", "", "")
	fs.BoolVar(&utf8Payload, "payload-utf8", false, "")
	fs.StringVar(&responseTopic, "response-topic", "", "")
	fs.StringVar(&correlation, "correlation-data", "", "")

	return fs, func(ctx context.Context, e *env, fs *flag.FlagSet) error {
		// Check the whole command line before reading stdin or
		// connecting: a typo should not cost a network round trip.
		if topic == "" {
			return usagef("-t is required: the topic to publish to")
		}
		hasMessage := isSet(fs, "m", "message")
		switch sources := btoi(hasMessage) + btoi(stdin) + btoi(multiline); {
		case sources > 1:
			return usagef("-m, -s and -M each give the message; use one")
		case sources == 0:
			return usagef("no message: give it with -m, -s to read it from standard input, or -M for one per line")
		case count < 1:
			return usagef("-n %d: the count must be at least 1", count)
		case multiline && count != 1:
			return usagef("-n with -M: each line is published once")
		}
		q, err := checkQoS("-q", qos)
		if err != nil {
			return err
		}
		m := mqtt.Message{Topic: topic, Payload: []byte(message), QoS: q, Retain: retain}
		for _, p := range props {
			k, v, ok := strings.Cut(p, "=")
			if !ok || k == "" {
				return usagef("-D %q: write a user property as key=value", p)
			}
			m.UserProperties = append(m.UserProperties, mqtt.UserProperty{Key: k, Value: v})
		}
		if expiry < 0 || expiry > 0 && time.Duration(expiry) < time.Second {
			return usagef("-e %v: a message expiry is whole seconds, at least 1s", time.Duration(expiry))
		}
		m.MessageExpiry = time.Duration(expiry)
		m.ContentType, m.ResponseTopic = contentType, responseTopic
		if correlation != "" {
			m.CorrelationData = []byte(correlation)
		}
		if utf8Payload {
			m.PayloadFormat = 1
		}
		rawURL, opts, err := conn.prepare(conn.clientID)
		if err != nil {
			return err
		}
		if stdin {
			// ReadAll one byte past the limit tells "too large" apart from
			// "exactly the limit" without holding more than that.
			b, err := io.ReadAll(io.LimitReader(e.stdin, maxPayload+1))
			if err != nil {
				return fmt.Errorf("reading the message from standard input: %w", err)
			}
			if len(b) > maxPayload {
				return fmt.Errorf("standard input holds more than %d bytes, the most an MQTT message can carry", maxPayload)
			}
			m.Payload = b
		}

		c, err := conn.dial(ctx, rawURL, opts)
		if err != nil {
			return err
		}
		defer c.Close()
		if multiline {
			if err := publishLines(ctx, c, m, e.stdin); err != nil {
				disconnect(ctx, c)
				return err
			}
			return disconnect(ctx, c)
		}
		for i := range count {
			if err := c.Publish(ctx, m); err != nil {
				// Disconnect anyway, so that the broker does not
				// publish the will because of a bad topic.
				disconnect(ctx, c)
				if count > 1 {
					return fmt.Errorf("message %d of %d: %w", i+1, count, err)
				}
				return err
			}
		}
		return disconnect(ctx, c)
	}
}

// isSet reports whether any of the flag names was given on the command
// line, so that an explicitly empty value (-m "") differs from none.
func isSet(fs *flag.FlagSet, names ...string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			if f.Name == n {
				set = true
			}
		}
	})
	return set
}

// publishLines publishes each line of r as a message like m, as the lines
// come: a producer piped into mqtt pub -M sends as it goes.
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
		if len(line) == 0 {
			continue
		}
		m.Payload = line
		if err := c.Publish(ctx, m); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
}

// readLine returns the next line of br without its line ending ("\n" or
// "\r\n"), and io.EOF after the last. A line longer than an MQTT message
// can carry is an error.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(line)+len(part) > maxPayload+2 {
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
		line = bytes.TrimSuffix(line, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
