//go:build js && wasm

// Command app is the Go side of the page that examples/browser serves,
// built for GOOS=js GOARCH=wasm: it connects to the broker named in the
// page (over the browser's WebSocket), subscribes to the topic filter of
// the form and lists the messages as they arrive, and publishes what the
// other form says.
package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/culex-mqtt/mqtt"
)

// maxShown is how many messages the list keeps; older ones are removed.
const maxShown = 200

var document = js.Global().Get("document")

func byID(id string) js.Value { return document.Call("getElementById", id) }

// app is the page. Its methods run on goroutines: the event handlers of
// the page start them, as they must not wait themselves.
type app struct {
	c      *mqtt.Client
	broker string

	mu    sync.Mutex
	sub   *mqtt.Subscription // the current one; replaced by a new Subscribe
	count int                // messages received
}

func main() {
	a := &app{broker: document.Get("body").Get("dataset").Get("broker").String()}
	a.status("connecting to "+a.broker+"…", "")
	c, err := mqtt.Dial(context.Background(), a.broker, &mqtt.DialOptions{
		OnConnect:        func(bool) { a.status("connected to "+a.broker, "ok") },
		OnConnectionLost: func(err error) { a.status("connection lost, reconnecting: "+err.Error(), "error") },
	})
	if err != nil {
		a.status(err.Error(), "error")
		return
	}
	a.c = c
	a.status(fmt.Sprintf("connected to %s with MQTT %s", a.broker, c.Version()), "ok")
	a.onSubmit("subscribe", a.subscribe)
	a.onSubmit("publish", a.publish)
	go a.subscribe()
	select {} // the page lives on; its handlers call in
}

// onSubmit has the form id run f on a goroutine of its own when submitted,
// and enables its button.
func (a *app) onSubmit(id string, f func()) {
	form := byID(id)
	form.Call("addEventListener", "submit", js.FuncOf(func(_ js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		go f()
		return nil
	}))
	form.Call("querySelector", "button").Set("disabled", false)
}

func (a *app) status(text, class string) {
	s := byID("status")
	s.Set("textContent", text)
	s.Set("className", "status "+class)
}

// result shows the outcome of a form's action beside its button.
func result(id, text string, err error) {
	class := "result"
	if err != nil {
		text, class = err.Error(), "result error"
	}
	r := byID(id)
	r.Set("textContent", text)
	r.Set("className", class)
}

func qosOf(id string) mqtt.QoS {
	n, _ := strconv.Atoi(byID(id).Get("value").String())
	return mqtt.QoS(n)
}

// subscribe replaces the subscription with one to the form's filter, and
// lists what it receives.
func (a *app) subscribe() {
	f := mqtt.Filter{Topic: byID("filter").Get("value").String(), QoS: qosOf("sub-qos")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.mu.Lock()
	old := a.sub
	a.sub = nil
	a.mu.Unlock()
	if old != nil {
		old.Unsubscribe(ctx) // its Next then ends
	}
	sub, err := a.c.Subscribe(ctx, f)
	if err != nil {
		result("sub-result", "", err)
		return
	}
	a.mu.Lock()
	a.sub = sub
	a.mu.Unlock()
	result("sub-result", fmt.Sprintf("subscribed to %s at %v", f.Topic, f.QoS), nil)
	for {
		m, err := sub.Next(context.Background())
		if err != nil {
			return // unsubscribed, or the client ended
		}
		a.show(m)
	}
}

// publish publishes the form's message and says when it was acknowledged.
func (a *app) publish() {
	m := mqtt.Message{
		Topic:   byID("topic").Get("value").String(),
		Payload: []byte(byID("payload").Get("value").String()),
		QoS:     qosOf("pub-qos"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.c.Publish(ctx, m); err != nil {
		result("pub-result", "", err)
		return
	}
	took := time.Since(start).Round(100 * time.Microsecond)
	switch m.QoS {
	case mqtt.QoS0:
		result("pub-result", fmt.Sprintf("sent at QoS 0 in %v", took), nil)
	case mqtt.QoS1:
		result("pub-result", fmt.Sprintf("PUBACK after %v", took), nil)
	default:
		result("pub-result", fmt.Sprintf("PUBCOMP after %v", took), nil)
	}
}

// show puts m at the top of the list.
func (a *app) show(m mqtt.Message) {
	li := document.Call("createElement", "li")
	for _, f := range [][2]string{
		{"time", time.Now().Format("15:04:05")},
		{"topic", m.Topic},
		{"qos", m.QoS.String()},
		{"payload", string(m.Payload)},
	} {
		span := document.Call("createElement", "span")
		span.Set("className", f[0])
		span.Set("textContent", f[1]) // text, never HTML
		li.Call("appendChild", span)
	}
	list := byID("messages")
	list.Call("prepend", li)
	for list.Get("children").Length() > maxShown {
		list.Get("lastElementChild").Call("remove")
	}
	a.mu.Lock()
	a.count++
	n := a.count
	a.mu.Unlock()
	byID("count").Set("textContent", fmt.Sprintf("(%d)", n))
}
