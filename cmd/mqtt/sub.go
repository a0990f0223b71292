package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

var subCommand = &command{
	name:     "sub",
	summary:  "subscribe and print the messages that arrive",
	synopsis: "mqtt sub -t filter [-t filter ...] [-q qos] [-v | -F format | --json] [-C count] [-W timeout] [flags]",
	intro: `mqtt sub subscribes to the topic filters and prints each message that
arrives: its payload on a line of its own (nothing for an empty payload), as
mosquitto_sub does. It runs until -C messages have arrived, -W has passed,
or it is interrupted (^C, SIGTERM); then it disconnects cleanly. When the
connection is lost it reconnects, subscribes again if the broker kept no
session, and goes on.`,
	flags: subFlags,
}

// subFlags defines the flags of "mqtt sub".
func subFlags() (*flagSet, func(context.Context, *env) error) {
	fs := newFlagSet("sub")
	var (
		topics, filterOut, unsub stringList
		qos, count, rh           int
		timeout                  duration
		noRetained, retainedOnly bool
		removeRetained, exitSub  bool
		noLocal, rap             bool
		noReconnect              bool
	)
	fs.group("subscription")
	fs.define(&topics, flagSpec{names: []string{"t", "topic"}, arg: "FILTER", origin: bothFlag,
		help: "a topic filter to subscribe to; may be repeated (required, or the path of -L)"})
	fs.intVar(&qos, flagSpec{names: []string{"q", "qos"}, arg: "QOS", origin: bothFlag,
		help: "the QoS to ask for: 0, 1 or 2 (default 0)"})
	fs.intVar(&count, flagSpec{names: []string{"C", "count"}, arg: "N", origin: mosquittoFlag,
		help: "exit after N messages"})
	fs.define(&timeout, flagSpec{names: []string{"W", "timeout"}, arg: "D", origin: mosquittoFlag,
		help: "exit after D (seconds, or 10s, 2m), counted once subscribed. Without -C that is a normal end (exit status 0); " +
			"with -C, exit status 1 if fewer than N messages arrived"})
	fs.define(&filterOut, flagSpec{names: []string{"T", "filter-out"}, arg: "FILTER", origin: mosquittoFlag,
		help: "do not print messages whose topic matches FILTER; may be repeated"})
	fs.define(&unsub, flagSpec{names: []string{"U", "unsubscribe"}, arg: "FILTER", origin: mosquittoFlag,
		help: "unsubscribe from FILTER first (with -c, from a kept session); may be repeated. " +
			"Without -t, mqtt sub exits once unsubscribed"})
	fs.boolVar(&noRetained, flagSpec{names: []string{"R", "no-retained"}, origin: mosquittoFlag,
		help: "do not print retained messages (stale ones, sent on subscribing)"})
	fs.boolVar(&retainedOnly, flagSpec{names: []string{"retained-only"}, origin: mosquittoFlag,
		help: "print only retained messages; exit at the first that is not"})
	fs.boolVar(&removeRetained, flagSpec{names: []string{"remove-retained"}, origin: mosquittoFlag,
		help: "clear each retained message received (publish an empty retained message to its topic)"})
	fs.boolVar(&exitSub, flagSpec{names: []string{"E", "exit-subscribed"}, origin: mosquittoFlag,
		help: "exit once subscribed, without waiting for messages (to create a kept session with -c)"})
	fs.boolVar(&noLocal, flagSpec{names: []string{"no-local"},
		help: "MQTT 5.0: do not receive our own messages"})
	fs.boolVar(&rap, flagSpec{names: []string{"retain-as-published"}, origin: mosquittoFlag,
		help: "MQTT 5.0: keep the retain flag of messages as published"})
	fs.intVar(&rh, flagSpec{names: []string{"retain-handling"}, arg: "N",
		help: "MQTT 5.0: retained messages on subscribing: 0 send them, 1 only for a new subscription, 2 never (default 0)"})
	fs.boolVar(&noReconnect, flagSpec{names: []string{"no-reconnect"},
		help: "exit with status 1 when the connection is lost; by default sub reconnects (and subscribes again)"})
	out := addOutputFlags(fs)
	props := addPropFlags(fs, false, false)
	conn := addConnFlags(fs, connKinds{session: true, will: true}, props)
	fs.hints["l"] = hintProtocolL
	fs.hints["m"] = "mqtt sub publishes nothing; mqtt pub -m does"

	return fs, func(ctx context.Context, e *env) error {
		if err := conn.resolve(e); err != nil {
			return err
		}
		if err := out.resolve(); err != nil {
			return err
		}
		for _, t := range conn.urlTopics {
			topics = stringList(appendNew(topics, t))
		}
		if len(topics) == 0 && len(unsub) == 0 {
			return usagef("-t is required: the topic filter to subscribe to")
		}
		for _, list := range []struct {
			flag    string
			filters []string
		}{{"-t", topics}, {"-T", filterOut}, {"-U", unsub}} {
			for _, t := range list.filters {
				if err := wire.CheckTopicFilter(t); err != nil {
					return usagef("%s: %v", list.flag, err)
				}
			}
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
		case noRetained && retainedOnly:
			return usagef("-R and --retained-only contradict each other")
		}
		opts := conn.options(e, conn.clientID, "")
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
				e.warnf("%s; reconnecting in %v (attempt %d)", why, delay.Round(time.Millisecond), attempt)
			}
		}
		filters := make([]mqtt.Filter, len(topics))
		for i, t := range topics {
			filters[i] = mqtt.Filter{Topic: t, QoS: q, NoLocal: noLocal, RetainAsPublished: rap, RetainHandling: mqtt.RetainHandling(rh)}
		}

		// Interrupting is how a sub is meant to end, so ^C is a normal
		// end at any moment, even before the subscription is complete.
		c, err := conn.dial(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer c.Close()
		end := func(err error) error {
			stopping.Store(true)
			if derr := disconnect(ctx, c); err == nil && ctx.Err() == nil {
				// After ^C a failed DISCONNECT is no news to the user.
				err = derr
			}
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		}
		if len(unsub) > 0 {
			if err := c.Unsubscribe(ctx, unsub...); err != nil {
				return end(fmt.Errorf("unsubscribing: %w", err))
			}
		}
		if len(topics) == 0 {
			return end(nil)
		}
		s, err := c.Subscribe(ctx, filters...)
		if err != nil {
			return end(err)
		}
		if exitSub {
			return end(nil)
		}
		r := receiver{
			e: e, c: c, s: s, out: out, count: count, timeout: time.Duration(timeout),
			noRetained: noRetained, retainedOnly: retainedOnly, removeRetained: removeRetained, filterOut: filterOut,
		}
		err = r.run(ctx)
		if n := s.Dropped(); n > 0 {
			e.warnf("%d QoS 0 messages were dropped because the output was too slow", n)
		}
		return end(err)
	}
}

// receiver prints the messages of a subscription as sub's flags say.
type receiver struct {
	e   *env
	c   *mqtt.Client
	s   *mqtt.Subscription
	out *outputFlags

	count   int           // 0: no limit
	timeout time.Duration // 0: none

	noRetained, retainedOnly, removeRetained bool
	filterOut                                []string
}

// run prints messages until count of them have been printed, the timeout
// has passed, or ctx ends. An interruption is a normal end; a timeout is
// an error only when a count was not reached.
func (r *receiver) run(ctx context.Context) error {
	wctx := ctx
	if r.timeout > 0 {
		// The timeout starts once subscribed, as mosquitto_sub's -W
		// starts once connected: the time to connect is not taken
		// from the time to wait for messages.
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	var line []byte
	for n := 0; r.count == 0 || n < r.count; {
		m, err := r.s.Next(wctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil // interrupted
		case errors.Is(err, context.DeadlineExceeded) && wctx.Err() != nil:
			if r.count > 0 {
				return fmt.Errorf("timed out after %v with %d of %d messages", r.timeout, n, r.count)
			}
			return nil
		default:
			return err
		}
		// What mosquitto_sub skips does not count towards -C.
		if r.retainedOnly && !m.Retain {
			return nil
		}
		if r.noRetained && m.Retain || r.filteredOut(m.Topic) {
			continue
		}
		if r.removeRetained && m.Retain && len(m.Payload) > 0 {
			empty := mqtt.Message{Topic: m.Topic, QoS: mqtt.QoS1, Retain: true}
			if err := r.c.Publish(ctx, empty); err != nil {
				return fmt.Errorf("clearing the retained message of %q: %w", m.Topic, err)
			}
		}
		// One Write per message: with an unbuffered stdout that is one
		// system call, and a reader of the pipe never sees half a line.
		line, err = r.out.appendMessage(line[:0], &m, time.Now())
		if err != nil {
			r.e.warnf("%v", err)
		}
		if _, err := r.e.stdout.Write(line); err != nil {
			return fmt.Errorf("writing the message: %w", err)
		}
		n++
	}
	return nil
}

func (r *receiver) filteredOut(topic string) bool {
	for _, f := range r.filterOut {
		if wire.MatchTopic(f, topic) {
			return true
		}
	}
	return false
}
