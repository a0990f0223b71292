//go:build !linux

package testproc

import "os/exec"

// SetProcAttr does nothing here: only Linux has a parent-death signal, so
// elsewhere a child outlives a test binary that dies without cleanups.
func SetProcAttr(cmd *exec.Cmd) {}
