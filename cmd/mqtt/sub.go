package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/culex-mqtt/mqtt"
)

var subCommand = &command{
	name:     "sub",
	summary:  "subscribe and print the messages that arrive",
	synopsis: "mqtt sub -t filter [-t filter ...] [-q qos] [-v] [-C count] [-W timeout] [connection flags]",
	usage: `usage: mqtt sub -t filter [-t filter ...] [flags]

mqtt sub subscribes to the topic filters and prints each message that
arrives, its payload on a line of its own. It runs until -C messages have
arrived, -W has passed, or it is interrupted (^C, SIGTERM); then it
disconnects cleanly. When the connection is lost it reconnects, subscribes
again if the broker kept no session, and goes on.

subscription:
  -t, --topic FILTER       topic filter to subscribe to; may be repeated (required)
  -q, --qos QOS            the QoS to ask for: 0, 1 or 2 (default 0)
  -v, --verbose            print "topic payload" rather than the payload alone
  -C, --count N            exit after N messages
  -W, --timeout D          exit after D (10s, 2m, or seconds); with -C, exit
                           status 1 if fewer than N messages arrived by then
  -c, --keep-session       resume and keep the broker's session for -i
                           (MQTT.js clean: false); needs -i
      --no-local           MQTT 5.0: do not receive our own messages
      --retain-as-published
                           MQTT 5.0: keep the retain flag as published
      --retain-handling N  MQTT 5.0: retained messages on subscribe: 0 send,
                           1 only for a new subscription, 2 never (default 0)
      --no-reconnect       exit with status 1 when the connection is lost;
                           by default sub reconnects (and subscribes again)

` + connUsage + "\n" + willUsage,
	flags: subFlags,
}

// subFlags defines the flags of "mqtt sub".
func subFlags() (*flag.FlagSet, func(context.Context, *env, *flag.FlagSet) error) {
	fs := flag.NewFlagSet("sub", flag.ContinueOnError)
	conn := addConnFlags(fs)
	conn.addWill(fs)
	var (
		topics         stringList
		qos, count, rh int
		verbose, keep  bool
		noLocal, rap   bool
		noReconnect    bool
		timeout        duration
	)
	for _, n := range []string{"t", "topic"} {
		fs.Var(&topics, n, "")
	}
	for _, n := range []string{"q", "qos"} {
		fs.IntVar(&qos, n, 0, "")
	}
	for _, n := range []string{"v", "verbose"} {
		fs.BoolVar(&verbose, n, false, "")
	}
	for _, n := range []string{"C", "count"} {
		fs.IntVar(&count, n, 0, "")
	}
	for _, n := range []string{"W", "timeout"} {
		fs.Var(&timeout, n, "")
	}
	for _, n := range []string{"c", "keep-session"} {
		fs.BoolVar(&keep, n, false, "")
	}
	fs.BoolVar(&noLocal, "no-local", false, "")
	fs.BoolVar(&rap, "retain-as-published", false, "")
	fs.IntVar(&rh, "retain-handling", 0, "")
	fs.BoolVar(&noReconnect, "no-reconnect", false, "")

	return fs, func(ctx context.Context, e *env, fs *flag.FlagSet) error {
		if len(topics) == 0 {
			return usagef("-t is required: the topic filter to subscribe to")
		}
		q, err := checkQoS("-q", qos)
		if err != nil {
			return err
		}
		switch {
		case count < 0:
			return usagef("-C %d: the count cannot be negative", count)
		case timeout < 0:
			return usagef("-W %v: the timeout cannot be negative", time.Duration(timeout))
		case rh < 0 || rh > 2:
			return usagef("--retain-handling %d is not 0, 1 or 2", rh)
		case keep && conn.clientID == "":
			// A generated ID names a new session every time: there
			// would be nothing to resume.
			return usagef("-c needs -i: a kept session belongs to a client ID")
		}
		rawURL, opts, err := conn.prepare(conn.clientID)
		if err != nil {
			return err
		}
		opts.KeepSession = keep
		stderr := &lockedWriter{w: e.stderr}
		var stopping atomic.Bool
		if !noReconnect {
			// Like mosquitto_sub, keep listening through a broker
			// restart, and say so: silence would look like no traffic.
			opts.NoReconnect = false
			opts.OnReconnecting = func(attempt int, delay time.Duration, lastErr error) {
				// The library may take the broker closing the
				// connection after our DISCONNECT for a loss; that is
				// no news.
				if stopping.Load() {
					return
				}
				why := oneLine(lastErr)
				if attempt == 1 {
					// Else lastErr is why the last attempt failed.
					why = "connection lost: " + why
				}
				fmt.Fprintf(stderr, "mqtt sub: %s; reconnecting in %v (attempt %d)\n", why, delay.Round(time.Millisecond), attempt)
			}
		}
		filters := make([]mqtt.Filter, len(topics))
		for i, t := range topics {
			filters[i] = mqtt.Filter{Topic: t, QoS: q, NoLocal: noLocal, RetainAsPublished: rap, RetainHandling: byte(rh)}
		}

		// Interrupting is how a sub is meant to end, so ^C is a normal
		// end at any moment, even before the subscription is complete.
		c, err := conn.dial(ctx, rawURL, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer c.Close()
		s, err := c.Subscribe(ctx, filters...)
		if err != nil {
			stopping.Store(true)
			disconnect(ctx, c)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		err = receive(ctx, e, s, verbose, count, time.Duration(timeout))
		if n := s.Dropped(); n > 0 {
			fmt.Fprintf(stderr, "mqtt sub: %d QoS 0 messages were dropped because the output was too slow\n", n)
		}
		stopping.Store(true)
		if derr := disconnect(ctx, c); err == nil && ctx.Err() == nil {
			// After ^C a failed DISCONNECT is no news to the user.
			err = derr
		}
		return err
	}
}

// receive prints the messages of s until count of them have arrived (0: no
// limit), timeout has passed (0: none), or ctx ends. An interruption is a
// normal end; a timeout is an error only when count was not reached.
func receive(ctx context.Context, e *env, s *mqtt.Subscription, verbose bool, count int, timeout time.Duration) error {
	wctx := ctx
	if timeout > 0 {
		// The timeout starts once subscribed, as mosquitto_sub's -W
		// starts once connected: the time to connect is not taken
		// from the time to wait for messages.
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var line []byte
	for n := 0; count == 0 || n < count; n++ {
		m, err := s.Next(wctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil // interrupted
		case errors.Is(err, context.DeadlineExceeded) && wctx.Err() != nil:
			if count > 0 {
				return fmt.Errorf("timed out after %v with %d of %d messages", timeout, n, count)
			}
			return nil
		default:
			return err
		}
		// One Write per message: with an unbuffered stdout that is one
		// system call, and a reader of the pipe never sees half a line.
		line = line[:0]
		if verbose {
			line = append(line, m.Topic...)
			line = append(line, ' ')
		}
		line = append(line, m.Payload...)
		line = append(line, '\n')
		if _, err := e.stdout.Write(line); err != nil {
			return fmt.Errorf("writing the message: %w", err)
		}
	}
	return nil
}
