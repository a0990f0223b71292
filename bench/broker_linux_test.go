package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// brokerProcAttr makes the kernel kill the broker if the test binary dies
// without running its cleanups (a -timeout panic, SIGKILL).
func brokerProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processCPU returns the CPU time (user and system) used so far by the
// process pid, from /proc/PID/stat; its resolution is the clock tick
// (usually 10 ms).
func processCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const ticksPerSecond = 100 // USER_HZ, 100 on every Linux ABI Go supports
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, true
}

// selfCPU returns the CPU time used so far by this process.
func selfCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// cpusAllowed returns the Cpus_allowed_list of the process pid, read from
// /proc/PID/task/*/status: the affinity is a thread's, so every thread is
// read, and an error returned if they differ.
func cpusAllowed(pid int) (string, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	list := ""
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, t.Name(), "status"))
		if os.IsNotExist(err) {
			continue // the thread has ended
		}
		if err != nil {
			return "", err
		}
		_, rest, ok := bytes.Cut(data, []byte("\nCpus_allowed_list:"))
		if !ok {
			return "", fmt.Errorf("no Cpus_allowed_list in %s/%s/status", dir, t.Name())
		}
		line, _, _ := bytes.Cut(rest, []byte("\n"))
		got := string(bytes.TrimSpace(line))
		if list != "" && got != list {
			return "", fmt.Errorf("threads of pid %d differ: Cpus_allowed_list %s and %s", pid, list, got)
		}
		list = got
	}
	if list == "" {
		return "", fmt.Errorf("no thread of pid %d found in %s", pid, dir)
	}
	return list, nil
}
