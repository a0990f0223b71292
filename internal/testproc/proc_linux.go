package testproc

import (
	"os/exec"
	"syscall"
)

// SetProcAttr makes the kernel kill the child if the test binary dies
// without running its cleanups (a panic in another goroutine, a timeout,
// SIGKILL), so no stray broker outlives the test run.
func SetProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
