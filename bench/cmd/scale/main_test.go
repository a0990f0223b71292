package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/mosquitto"
	"github.com/culex-mqtt/mqtt/mqtttest"
)

// TestMain lets startMQTTTest run this test binary as its child process,
// as it runs the program's own binary.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == childMQTTTest {
		if err := serveMQTTTest(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// small is a run of the program's shape in about a second.
func small(t *testing.T, url string) config {
	return config{
		URL:        url,
		Broker:     "test",
		Clients:    50,
		Parallel:   8,
		Readers:    true,
		Burst:      20,
		Size:       1024,
		Chunk:      3, // 20 is not a multiple: the last round sends 2
		Publishers: 2,
		Settle:     100 * time.Millisecond,
		Idle:       100 * time.Millisecond,
		Timeout:    10 * time.Second,
		Progress:   logWriter{t},
	}
}

// TestScaleMQTTTest runs the program's core against mqtttest in a child
// process, as -broker mqtttest does.
func TestScaleMQTTTest(t *testing.T) {
	b, err := startMQTTTest()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	cfg := small(t, b.URL)
	cfg.BrokerPID = b.PID
	checkReport(t, cfg)
}

// TestScaleMosquitto runs it against the program's own mosquitto.
func TestScaleMosquitto(t *testing.T) {
	mosquitto.Require(t, "mosquitto") // skips, or fails with CI=true
	if _, err := raiseFileLimit(200); err != nil {
		t.Fatal(err)
	}
	b, err := startMosquitto()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if !strings.HasPrefix(b.Name, "mosquitto") {
		t.Errorf("broker name %q", b.Name)
	}
	cfg := small(t, b.URL)
	cfg.BrokerPID = b.PID
	checkReport(t, cfg)
}

// TestScaleNoReaders runs it with nobody calling Next, against mqtttest in
// this process: the run measures idle memory and stops.
func TestScaleNoReaders(t *testing.T) {
	srv := mqtttest.NewServer(mqtttest.RecordLimit(0))
	defer srv.Close()
	cfg := small(t, srv.URL)
	cfg.Readers = false
	r, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Burst != nil || r.FanOut != nil || r.IdleReaders != (Mem{}) {
		t.Errorf("without readers the run went on after the idle measure: %+v", r)
	}
	if r.Idle.Goroutines <= r.Before.Goroutines || r.IdlePerClient.HeapInuse <= 0 {
		t.Errorf("idle: %+v per client %+v, before %+v", r.Idle, r.IdlePerClient, r.Before)
	}
	if r.Close.Leaked != 0 {
		t.Errorf("%d goroutines leaked", r.Close.Leaked)
	}
}

// checkReport runs cfg and checks that every client connected, received
// the burst and the fan-out, and left no goroutine behind, and that the
// memory figures are plausible.
func checkReport(t *testing.T, cfg config) {
	t.Helper()
	start := time.Now()
	r, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run took %v", time.Since(start))
	n := cfg.Clients
	if r.Connect.PerSecond <= 0 || r.Subscribe.PerSecond <= 0 || r.Connect.P50ms <= 0 {
		t.Errorf("connect %+v, subscribe %+v", r.Connect, r.Subscribe)
	}
	if runtime.GOOS == "linux" && (r.Before.RSS == 0 || r.Idle.RSS == 0 || r.Idle.BrokerRSS == 0) {
		t.Errorf("no resident sizes: before %+v, idle %+v", r.Before, r.Idle)
	}
	if r.IdlePerClient.HeapInuse <= 0 || r.IdlePerClient.Goroutines <= 0 {
		t.Errorf("idle per client: %+v", r.IdlePerClient)
	}
	// The readers add one goroutine per client, give or take the odd
	// runtime goroutine.
	if d := r.IdleReadersPerClient.Goroutines - r.IdlePerClient.Goroutines; d < 0.9 || d > 1.1 {
		t.Errorf("readers added %.2f goroutines per client, want 1", d)
	}
	b := r.Burst
	if b == nil {
		t.Fatal("no burst in the report")
	}
	if b.Messages != int64(n*cfg.Burst) || b.Received != b.Messages || b.Complete != n {
		t.Errorf("burst: %d of %d messages received, %d of %d clients complete", b.Received, b.Messages, b.Complete, n)
	}
	if b.Peak.HeapInuse < r.Before.HeapInuse || b.RatioAfterIdleGC <= 0 {
		t.Errorf("burst memory: peak %+v, ratio after GC %.2f", b.Peak, b.RatioAfterIdleGC)
	}
	if f := r.FanOut; f == nil || f.Received != n || f.Maxms <= 0 || f.P50ms > f.Maxms {
		t.Errorf("fan-out: %+v", f)
	}
	if c := r.Close; c.Leaked != 0 || c.Errors != 0 || c.GoroutinesAfter > c.GoroutinesBefore {
		t.Errorf("close: %+v", c)
	}
	if r.ConnectionsLost != 0 || r.PublishersLost != 0 {
		t.Errorf("connections lost: %d of clients, %d of publishers; the first: %s", r.ConnectionsLost, r.PublishersLost, r.FirstLoss)
	}

	var table bytes.Buffer
	printReport(&table, r)
	for _, want := range []string{"connect", "idle, a reader each (GC)", "burst peak", "fan-out", "none leaked"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || back.Burst == nil || back.Burst.Received != b.Received {
		t.Errorf("JSON round trip: %v, %s", err, data)
	}
	if t.Failed() {
		t.Logf("report:\n%s", table.String())
	}
}

// logWriter sends the run's progress to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
