package mqtt_test

// Suite setup: TestMain and its goroutine leak check.

import (
	"testing"

	"github.com/culex-mqtt/mqtt/internal/leakcheck"
)

// TestMain fails the run when a test leaves a client goroutine behind.
func TestMain(m *testing.M) { leakcheck.Main(m) }
