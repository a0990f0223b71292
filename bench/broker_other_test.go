//go:build !linux

package bench

import (
	"errors"
	"os/exec"
	"time"
)

// brokerProcAttr does nothing: only Linux has a parent-death signal.
func brokerProcAttr(cmd *exec.Cmd) {}

// processCPU is not implemented here: the CPU metrics are left out.
func processCPU(pid int) (time.Duration, bool) { return 0, false }

// selfCPU is not implemented here: the CPU metrics are left out.
func selfCPU() (time.Duration, bool) { return 0, false }

// cpusAllowed is not implemented here: pinning (the one-CPU mode of
// clients.sh) needs Linux and taskset.
func cpusAllowed(pid int) (string, error) {
	return "", errors.New("CPU pinning is checked on Linux only")
}
