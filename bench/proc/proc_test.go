package proc

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// A command name with a space and a parenthesis, as a process may name itself.
	line := "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 2000 0 0 0 250 130 0 0 20 0 9 0 100 1000000 500 18446744073709551615\n"
	d, err := parseStat([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, 3800*time.Millisecond, d, "(250+130) ticks of 10 ms")
	_, err = parseStat([]byte("1234 no parens"))
	assert.Error(t, err)
	_, err = parseStat([]byte("1 (x) S 1 2"))
	assert.Error(t, err)
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	m, err := parseStatus([]byte("Name:\tweir\nVmHWM:\t  102400 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n"))
	require.NoError(t, err)
	assert.Equal(t, Memory{RSS: 50 << 20, Peak: 100 << 20}, m)
	_, err = parseStatus([]byte("Name:\tkthreadd\n"))
	assert.Error(t, err)
	_, err = parseStatus([]byte("VmHWM:\t1 MB\nVmRSS:\t1 kB\n"))
	assert.Error(t, err)
}

func TestOwnProcess(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	start := time.Now()
	for time.Since(start) < 50*time.Millisecond {
	}
	cpu, err := CPU(pid)
	require.NoError(t, err)
	assert.Positive(t, cpu)
	m, err := Mem(pid)
	require.NoError(t, err)
	assert.Positive(t, m.RSS)
	assert.GreaterOrEqual(t, m.Peak, m.RSS)
	la, err := LoadAvg()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, la[0], 0.0)
	_, err = CPU(-1)
	assert.Error(t, err)
}
