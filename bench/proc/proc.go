// Package proc reads what a process has spent from Linux's /proc: CPU time (utime+stime of
// every thread) and memory (resident set now and its peak). The side-by-side comparison uses
// it on processes it started, so each figure belongs to the process measured and not to the
// load generator or the receiver sharing the machine.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ: /proc/PID/stat counts CPU time in these. It is 100 on every Linux
// architecture Go supports (the kernel fixes it for userspace ABI).
const clockTick = 100

// CPU returns the user plus system CPU time pid has used so far.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) from a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces and parentheses itself, so fields are
// counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc: malformed stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': field 3 (state) is f[0], so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("proc: stat line has %d fields after the name", len(f))
	}
	ut, err1 := strconv.ParseInt(f[14-3], 10, 64)
	st, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc: malformed utime/stime %q %q", f[14-3], f[15-3])
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// Memory is a process's resident memory in bytes.
type Memory struct {
	RSS  int64 // VmRSS: resident now
	Peak int64 // VmHWM: the highest RSS so far
}

// Mem reads VmRSS and VmHWM from /proc/PID/status.
func Mem(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Memory, error) {
	var m Memory
	var found int
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("proc: malformed %s line %q", key, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("proc: malformed %s line %q", key, line)
		}
		if key == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.Peak = kb << 10
		}
		found++
	}
	if found != 2 {
		return m, fmt.Errorf("proc: VmRSS or VmHWM missing (a kernel thread, or the process exited)")
	}
	return m, nil
}

// LoadAvg returns the 1, 5 and 15 minute load averages.
func LoadAvg() ([3]float64, error) {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return out, fmt.Errorf("proc: malformed loadavg %q", b)
	}
	for i := range out {
		if out[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return out, fmt.Errorf("proc: malformed loadavg %q", b)
		}
	}
	return out, nil
}
