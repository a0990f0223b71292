package main

import (
	"fmt"
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the child when this process dies
// without stopping it (a panic, ^C, SIGKILL), so that no broker outlives a
// run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// raiseFileLimit sets the soft limit of open files (RLIMIT_NOFILE) to the
// hard limit, raising the hard limit too if it is below need (which takes
// root or CAP_SYS_RESOURCE), and returns the new soft limit. It returns an
// error that says what to do if the limit stays below need.
//
// The Go runtime raises the soft limit by itself at start-up, but restores
// the original one in the processes it starts; a limit set with Setrlimit
// is inherited instead. So this is called even when the soft limit is high
// enough already: mosquitto, which holds one descriptor per client, does
// not raise its own.
func raiseFileLimit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("reading the limit of open files: %w", err)
	}
	want := lim
	want.Cur = lim.Max
	if want.Max < need {
		want.Max, want.Cur = need, need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		if want.Max == lim.Max {
			return lim.Cur, fmt.Errorf("setting the limit of open files to %d: %w", want.Cur, err)
		}
		// Not allowed to raise the hard limit: take what there is.
		want.Max, want.Cur = lim.Max, lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, fmt.Errorf("setting the limit of open files to %d: %w", want.Cur, err2)
		}
		return want.Cur, fmt.Errorf("this run needs about %d open files in this process and as many in the broker, "+
			"but the hard limit is %d and cannot be raised (%v): raise it (ulimit -Hn as root, "+
			"/etc/security/limits.conf, LimitNOFILE= of a systemd unit) or use fewer clients", need, lim.Max, err)
	}
	return want.Cur, nil
}
