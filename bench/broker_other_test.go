//go:build !linux

package bench

import (
	"os/exec"
	"time"
)

// brokerProcAttr does nothing: only Linux has a parent-death signal.
func brokerProcAttr(cmd *exec.Cmd) {}

// processCPU is not implemented here: the CPU metrics are left out.
func processCPU(pid int) (time.Duration, bool) { return 0, false }

// selfCPU is not implemented here: the CPU metrics are left out.
func selfCPU() (time.Duration, bool) { return 0, false }
