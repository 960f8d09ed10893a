package indexing

import (
	"os"
	"strconv"
	"strings"
)

// LoadAvg returns the 1-minute load average from /proc/loadavg, 0 where there is none.
// Benchmarks record it because the machine is shared: a figure taken under load says so.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}
