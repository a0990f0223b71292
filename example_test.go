package mqtt_test

// Suite: the package's examples.

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/mqtttest"
	"github.com/culex-mqtt/mqtt/wire"
)

func ExampleDial() {
	broker := mqtttest.NewServer() // a broker for the example; use your own URL
	defer broker.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, broker.URL, &mqtt.DialOptions{ClientID: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected with MQTT", c.Version())
	// Output: connected with MQTT 5.0
}

func ExampleClient_Publish() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx := context.Background()
	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Publish returns after the broker's PUBACK.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = c.Publish(ctx, mqtt.Message{Topic: "orders/42", Payload: []byte(`{"state":"paid"}`), QoS: mqtt.QoS1})
	var refused *mqtt.ReasonError
	switch {
	case err == nil:
		fmt.Println("the broker has it")
	case errors.As(err, &refused):
		fmt.Println("the broker refused it:", refused.ReasonCode)
	case errors.Is(err, mqtt.ErrOutcomeUnknown):
		fmt.Println("sent, not acknowledged: the broker may have it")
	default: // errors.Is(err, mqtt.ErrNotSent)
		fmt.Println("not sent:", err)
	}
	// Output: the broker has it
}

func ExampleClient_Subscribe() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sub, err := c.Subscribe(ctx, mqtt.Filter{Topic: "sensors/+/temperature", QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Publish(ctx, mqtt.Message{Topic: "sensors/kitchen/temperature", Payload: []byte("21.5"), QoS: mqtt.QoS1}); err != nil {
		log.Fatal(err)
	}
	// Next acknowledges the QoS 1 message as it hands it out.
	m, err := sub.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s\n", m.Topic, m.Payload)
	// Output: sensors/kitchen/temperature = 21.5
}

// A client reconnects by itself; calls made meanwhile wait for it.
func ExampleDialOptions_reconnect() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	connected := make(chan bool, 2)
	c, err := mqtt.Dial(ctx, broker.URL, &mqtt.DialOptions{
		ClientID:       "reconnecting",
		KeepSession:    true,
		ReconnectDelay: 10 * time.Millisecond, // 1s when unset
		OnConnect:      func(sessionPresent bool) { connected <- sessionPresent },
		OnReconnecting: func(attempt int, _ time.Duration, err error) {
			fmt.Println("reconnecting, attempt", attempt)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected, session present:", <-connected)

	broker.CloseClientConnections() // the network fails
	fmt.Println("connected again, session present:", <-connected)
	if err := c.Publish(ctx, mqtt.Message{Topic: "t", QoS: mqtt.QoS1}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("published")
	// Output:
	// connected, session present: false
	// reconnecting, attempt 1
	// connected again, session present: true
	// published
}

func ExampleClient_Request() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A service that answers on the response topic of each request, with
	// its correlation data.
	service, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer service.Close()
	requests, err := service.Subscribe(ctx, mqtt.Filter{Topic: "prices/lookup", QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			req, err := requests.Next(ctx)
			if err != nil {
				return
			}
			service.Publish(ctx, mqtt.Message{Topic: req.ResponseTopic, CorrelationData: req.CorrelationData,
				Payload: []byte(string(req.Payload) + ": 4.20"), QoS: mqtt.QoS1})
		}
	}()

	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Request(ctx, mqtt.Message{Topic: "prices/lookup", Payload: []byte("coffee"), QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", resp.Payload)
	// Output: coffee: 4.20
}

// An HTTP handler that publishes each request's body and answers with a
// status code that says what became of the message: the four outcomes of
// Publish (see the package doc's table).
func Example_httpHandler() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	c, err := mqtt.Dial(context.Background(), broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	publish := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := c.Publish(ctx, mqtt.Message{Topic: r.URL.Query().Get("topic"), Payload: body, QoS: mqtt.QoS1})
		var refused *mqtt.ReasonError
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, mqtt.ErrInvalid): // the request's fault: the same call fails again
			http.Error(w, err.Error(), http.StatusBadRequest)
		case errors.As(err, &refused):
			status := http.StatusBadGateway
			switch refused.ReasonCode {
			case wire.NotAuthorized:
				status = http.StatusForbidden
			case wire.QuotaExceeded:
				status = http.StatusTooManyRequests
			}
			http.Error(w, err.Error(), status)
		case errors.Is(err, mqtt.ErrOutcomeUnknown): // the broker may have it: a retry may deliver twice
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
		default: // mqtt.ErrNotSent: nothing was sent, a retry is safe
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}

	for _, topic := range []string{"orders/42", "orders/%23"} { // %23 is '#': no topic to publish to
		rec := httptest.NewRecorder()
		publish(rec, httptest.NewRequest("POST", "/publish?topic="+topic, strings.NewReader(`{"state":"paid"}`)))
		fmt.Println(topic, rec.Code)
	}
	// Output:
	// orders/42 204
	// orders/%23 400
}

// The client's counters, published with expvar: a service that serves
// /debug/vars shows them next to its own.
func ExampleClient_Stats() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx := context.Background()
	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	expvar.Publish("mqtt", expvar.Func(func() any { return c.Stats() }))

	if err := c.Publish(ctx, mqtt.Message{Topic: "orders/42", QoS: mqtt.QoS1}); err != nil {
		log.Fatal(err)
	}
	st := c.Stats()
	fmt.Println("published at QoS 1:", st.Published[mqtt.QoS1], "in flight:", st.InFlightOut)
	// Output: published at QoS 1: 1 in flight: 0
}

// A consumer scaled out across processes: each process runs the same worker
// with a client ID of its own and subscribes to "$share/workers/jobs/#", a
// shared subscription (MQTT 5.0 section 4.8.2; mosquitto also takes it
// over 3.1.1). The broker hands each job to one worker of the group, so
// starting another process adds a worker and stopping one leaves the jobs
// to the others. Here three goroutines stand for three processes.
func Example_sharedSubscription() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type result struct{ worker, job string }
	results := make(chan result)
	// worker is the whole program of one process.
	worker := func(name string) *mqtt.Client {
		c, err := mqtt.Dial(ctx, broker.URL, &mqtt.DialOptions{
			// One ID per process (say, host name and process number):
			// with KeepSession, what the broker sent a worker that
			// crashed waits in its session until it restarts, and
			// SessionExpiry bounds that wait for one that never does.
			ClientID:      "worker-" + name,
			KeepSession:   true,
			SessionExpiry: 10 * time.Minute,
		})
		if err != nil {
			log.Fatal(err)
		}
		jobs, err := c.Subscribe(ctx, mqtt.Filter{Topic: "$share/workers/jobs/#", QoS: mqtt.QoS1})
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			for {
				// Next acknowledges the job handed out before: take the
				// next one only when this one is done.
				m, err := jobs.Next(ctx)
				if err != nil {
					return
				}
				results <- result{name, string(m.Payload)}
			}
		}()
		return c
	}
	for _, name := range []string{"a", "b", "c"} {
		defer worker(name).Close()
	}

	producer, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	for i := 1; i <= 6; i++ {
		if err := producer.Publish(ctx, mqtt.Message{Topic: "jobs/resize", Payload: fmt.Appendf(nil, "job %d", i), QoS: mqtt.QoS1}); err != nil {
			log.Fatal(err)
		}
	}
	perWorker := map[string]int{}
	done := map[string]bool{}
	for range 6 {
		r := <-results
		perWorker[r.worker]++
		done[r.job] = true
	}
	fmt.Println("jobs done:", len(done), "- by worker:", perWorker)
	// Output: jobs done: 6 - by worker: map[a:2 b:2 c:2]
}

// A worker that acknowledges each job once it has dealt with it, and
// refuses (MQTT 5.0) the jobs it cannot do, with a reason code the broker
// sees in the PUBACK.
func ExampleSubscription_NextDelivery() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	jobs, err := c.Subscribe(ctx, mqtt.Filter{Topic: "jobs/#", QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	for _, job := range []string{"resize photo.jpg", "launch rocket"} {
		if err := c.Publish(ctx, mqtt.Message{Topic: "jobs/new", Payload: []byte(job), QoS: mqtt.QoS1}); err != nil {
			log.Fatal(err)
		}
	}
	for range 2 {
		d, err := jobs.NextDelivery(ctx) // not acknowledged yet
		if err != nil {
			log.Fatal(err)
		}
		if strings.HasPrefix(string(d.Payload), "resize ") {
			fmt.Printf("done: %s\n", d.Payload)
			err = d.Accept() // PUBACK
		} else {
			fmt.Printf("refused: %s\n", d.Payload)
			err = d.Refuse(wire.NotAuthorized) // PUBACK 0x87
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// done: resize photo.jpg
	// refused: launch rocket
}

// A service that answers requests: Serve has the handler answer each
// request its Subscription receives, on the request's response topic.
func ExampleResponder() {
	broker := mqtttest.NewServer()
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	service, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer service.Close()
	requests, err := service.Subscribe(ctx, mqtt.Filter{Topic: "prices/lookup", QoS: mqtt.QoS1})
	if err != nil {
		log.Fatal(err)
	}
	prices := map[string]string{"coffee": "4.20", "tea": "3.10"}
	lookup := &mqtt.Responder{Handler: func(ctx context.Context, req mqtt.Message) ([]byte, error) {
		price, ok := prices[string(req.Payload)]
		if !ok {
			return nil, fmt.Errorf("no price for %q", req.Payload)
		}
		return []byte(price), nil
	}}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- lookup.Serve(serveCtx, requests) }()

	c, err := mqtt.Dial(ctx, broker.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, item := range []string{"coffee", "cake"} {
		resp, err := c.Request(ctx, mqtt.Message{Topic: "prices/lookup", Payload: []byte(item), QoS: mqtt.QoS1})
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range resp.UserProperties {
			if p.Key == "error" { // the handler failed
				fmt.Printf("%s: %s\n", item, p.Value)
			}
		}
		if len(resp.Payload) > 0 {
			fmt.Printf("%s: %s\n", item, resp.Payload)
		}
	}

	stop() // Serve returns once its handlers have, and unsubscribes
	fmt.Println(errors.Is(<-served, context.Canceled))
	// Output:
	// coffee: 4.20
	// cake: no price for "cake"
	// true
}
