package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/culex-mqtt/mqtt"
)

var pubCommand = &command{
	name:     "pub",
	summary:  "publish a message",
	synopsis: "mqtt pub -t topic (-m message | -s) [-q qos] [-r] [-n count] [connection flags]",
	usage: `usage: mqtt pub -t topic (-m message | -s) [flags]

mqtt pub publishes one message (or the same message -n times), waits for
each acknowledgement (PUBACK at QoS 1, PUBCOMP at QoS 2), then disconnects.
It does not reconnect: a lost connection fails it with exit status 1.

message:
  -t, --topic TOPIC        topic to publish to (required)
  -m, --message MSG        the payload; -m '' sends an empty one (which
                           clears a retained message with -r)
  -s, --stdin              read the payload from standard input, all of it as
                           one message
  -q, --qos QOS            0, 1 or 2 (default 0)
  -r, --retain             ask the broker to retain the message
  -n, --count N            publish the message N times (default 1)
  -D, --user-property K=V  an MQTT 5.0 user property; may be repeated

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
		qos            int
		count          int
		props          stringList
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

	return fs, func(ctx context.Context, e *env, fs *flag.FlagSet) error {
		// Check the whole command line before reading stdin or
		// connecting: a typo should not cost a network round trip.
		if topic == "" {
			return usagef("-t is required: the topic to publish to")
		}
		hasMessage := isSet(fs, "m", "message")
		switch {
		case hasMessage && stdin:
			return usagef("-m and -s both give the message; use one")
		case !hasMessage && !stdin:
			return usagef("no message: give it with -m, or -s to read it from standard input")
		case count < 1:
			return usagef("-n %d: the count must be at least 1", count)
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
