//go:build !linux

package mosquitto

import "os/exec"

// setProcAttr does nothing here: only Linux has a parent-death signal, so
// elsewhere a child outlives a test binary that dies without cleanups.
func setProcAttr(cmd *exec.Cmd) {}
