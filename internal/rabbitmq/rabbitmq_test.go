package rabbitmq

import (
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/testproc"
)

func TestStart(t *testing.T) {
	t0 := time.Now()
	b := Start(t, Options{})
	t.Logf("started in %v", time.Since(t0).Round(time.Millisecond))
	if err := testproc.Handshake(b.MQTTAddr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Log(), "rabbitmq_mqtt") {
		t.Error("the log does not mention the MQTT plugin")
	}
	t1 := time.Now()
	b.Stop()
	t.Logf("stopped in %v", time.Since(t1).Round(time.Millisecond))
	if err := testproc.Handshake(b.MQTTAddr, time.Second); err == nil {
		t.Error("a stopped node answers MQTT")
	}
	b.Stop()
}
