package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/wire"
)

var reqCommand = &command{
	name:     "req",
	summary:  "send a request and print the response (MQTT 5.0 request/response)",
	synopsis: "mqtt req -t topic [-e response-topic] (-m message | -f file | -s | -n) [-W timeout] [flags]",
	intro: `mqtt req publishes a request with a response topic and correlation data
(MQTT 5.0 section 4.10), waits for the response, prints it as mqtt sub would,
then disconnects, as mosquitto_rr does.

The response topic is -e, to which req subscribes before it publishes;
without -e, req picks one of its own. A response that carries other
correlation data answers another request and is skipped. With MQTT 3.1.1,
whose messages have no properties, -e is required and the first message on
it is the response.`,
	flags: reqFlags,
}

// reqFlags defines the flags of "mqtt req".
func reqFlags() (*flagSet, func(context.Context, *env) error) {
	fs := newFlagSet("req")
	msg := addMessageFlags(fs, true)
	var (
		respTopic string
		timeout   duration
	)
	fs.group("response")
	fs.stringVar(&respTopic, flagSpec{names: []string{"e", "response-topic"}, arg: "TOPIC", origin: mosquittoFlag,
		help: "the topic the response comes on: req subscribes to it and sends it with the request " +
			"(default: a topic of req's own, MQTT 5.0 only)"})
	fs.define(&timeout, flagSpec{names: []string{"W", "timeout"}, arg: "D", origin: mosquittoFlag,
		help: "give up waiting for the response after D (seconds, or 10s, 2m), with exit status 1 (default: wait until interrupted)"})
	out := addOutputFlags(fs)
	props := addPropFlags(fs, true, false)
	msg.props = props
	conn := addConnFlags(fs, connKinds{session: true, will: true}, props)
	fs.hints["C"] = hintProtocolC
	fs.hints["l"] = hintProtocolL
	fs.hints["U"] = hintURL

	return fs, func(ctx context.Context, e *env) error {
		if err := conn.resolve(e); err != nil {
			return err
		}
		if err := out.resolve(); err != nil {
			return err
		}
		m, err := msg.resolve(conn.urlTopics)
		if err != nil {
			return err
		}
		switch {
		case m.ResponseTopic != "" && respTopic != "" && m.ResponseTopic != respTopic:
			return usagef("-e and -D publish response-topic name different response topics")
		case m.ResponseTopic != "":
			respTopic = m.ResponseTopic
		}
		if respTopic != "" {
			if err := wire.CheckTopicName(respTopic); err != nil {
				return usagef("-e: %v", err)
			}
		} else if conn.ver == mqtt.V31 || conn.ver == mqtt.V311 {
			return usagef("-V %s has no response topic property: give the topic the response comes on with -e", conn.version)
		}
		if timeout < 0 {
			return usagef("-W %v: the timeout cannot be negative", time.Duration(timeout))
		}
		if err := msg.readPayload(e, &m); err != nil {
			return err
		}

		c, err := conn.dial(ctx, conn.options(e, conn.clientID, ""))
		if err != nil {
			return err
		}
		defer c.Close()
		resp, err := request(ctx, c, m, respTopic, time.Duration(timeout))
		if err != nil {
			disconnect(ctx, c)
			return err
		}
		line, perr := out.appendMessage(nil, &resp, time.Now())
		if perr != nil {
			e.warnf("%v", perr)
		}
		if _, err := e.stdout.Write(line); err != nil {
			disconnect(ctx, c)
			return fmt.Errorf("writing the response: %w", err)
		}
		return disconnect(ctx, c)
	}
}

// request sends m and returns the response: on respTopic when it is set,
// else on the library's own response topic (Client.Request).
func request(ctx context.Context, c *mqtt.Client, m mqtt.Message, respTopic string, timeout time.Duration) (mqtt.Message, error) {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	failed := func(err error) (mqtt.Message, error) {
		switch {
		case ctx.Err() != nil:
			return mqtt.Message{}, errors.New("interrupted before the response came")
		case wctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
			return mqtt.Message{}, fmt.Errorf("no response within %v (-W)", timeout)
		}
		return mqtt.Message{}, err
	}
	v5 := c.Version() == mqtt.V5
	if respTopic == "" {
		if !v5 {
			return failed(fmt.Errorf("the broker speaks MQTT %v, which has no response topic property: give the topic the response comes on with -e", c.Version()))
		}
		resp, err := c.Request(wctx, m)
		if err != nil {
			return failed(err)
		}
		return resp, nil
	}

	s, err := c.Subscribe(wctx, mqtt.Filter{Topic: respTopic, QoS: m.QoS})
	if err != nil {
		return failed(fmt.Errorf("subscribing to the response topic: %w", err))
	}
	if v5 {
		m.ResponseTopic = respTopic
		if m.CorrelationData == nil {
			// Printable, so that a responder's -F %D shows it.
			b := make([]byte, 8)
			rand.Read(b)
			m.CorrelationData = []byte(hex.EncodeToString(b))
		}
	}
	if err := c.Publish(wctx, m); err != nil {
		return failed(err)
	}
	for {
		resp, err := s.Next(wctx)
		if err != nil {
			return failed(err)
		}
		// A responder that drops the correlation data still answers
		// us (mosquitto_rr takes whatever comes); one with other data
		// answers someone else.
		if v5 && resp.CorrelationData != nil && !bytes.Equal(resp.CorrelationData, m.CorrelationData) {
			continue
		}
		return resp, nil
	}
}
