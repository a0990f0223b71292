//go:build !linux

package main

import (
	"os/exec"
)

// dieWithParent does nothing where the kernel cannot kill a child when its
// parent dies: stop the broker by hand if this program is killed.
func dieWithParent(*exec.Cmd) {}

// raiseFileLimit leaves the limit of open files as it is outside Linux,
// where the Go runtime has already raised the soft limit for this process
// (but not for the broker: raise it with ulimit -n before the run).
func raiseFileLimit(uint64) (uint64, error) { return 0, nil }
