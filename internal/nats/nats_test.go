package nats

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/testproc"
)

func TestStart(t *testing.T) {
	t.Parallel()
	nd := Start(t, Options{})
	if !nd.Running() {
		t.Fatal("not running after Start")
	}
	if err := testproc.Handshake(nd.MQTTAddr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if nd.ClusterAddr != "" {
		t.Errorf("a single node has a cluster listener %s", nd.ClusterAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := nd.Health(ctx); err != nil {
		t.Error(err)
	}
	nd.Stop()
	if nd.Running() {
		t.Error("running after Stop")
	}
	if err := testproc.Handshake(nd.MQTTAddr, time.Second); err == nil {
		t.Error("a stopped node answers MQTT")
	}
	nd.Stop() // twice is fine
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, Options{})
	if len(c.Nodes) != 3 || len(c.URLs()) != 3 {
		t.Fatalf("%d nodes, %d URLs", len(c.Nodes), len(c.URLs()))
	}
	for _, nd := range c.Nodes {
		if c.ByURL(nd.MQTTURL) != nd || c.ByURL(nd.MQTTAddr) != nd {
			t.Errorf("ByURL does not find %s", nd.Name)
		}
		conf := nd.config(3)
		for _, want := range []string{"stream_replicas: 3", "routes", c.Nodes[0].ClusterAddr, c.Nodes[2].ClusterAddr, "server_name: " + nd.Name} {
			if !strings.Contains(conf, want) {
				t.Errorf("%s's configuration lacks %q:\n%s", nd.Name, want, conf)
			}
		}
	}
	// Kill one: the other two keep answering MQTT, and it comes back on
	// its ports with its store.
	t0 := time.Now()
	c.Nodes[0].Kill()
	if c.Nodes[0].Running() {
		t.Fatal("running after Kill")
	}
	// When n1 led a stream, the others hold a CONNECT for about 4s and
	// then close it, until they have elected a new leader.
	for _, nd := range c.Nodes[1:] {
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := testproc.Handshake(nd.MQTTAddr, 10*time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after n1 was killed: %v", nd.Name, err)
			}
		}
	}
	t.Logf("after kill: %v", time.Since(t0))
	t1 := time.Now()
	c.Nodes[0].Restart(t)
	t.Logf("restart: %v", time.Since(t1))
	if err := testproc.Handshake(c.Nodes[0].MQTTAddr, 5*time.Second); err != nil {
		t.Errorf("n1 after its restart: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t2 := time.Now()
	if err := c.Nodes[0].WaitCurrent(ctx); err != nil {
		t.Error(err)
	}
	t.Logf("current after %v", time.Since(t2))
	if !strings.Contains(c.Nodes[0].Log(), "SIGKILL") {
		t.Error("the log does not show the kill")
	}
}
