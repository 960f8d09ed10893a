//go:build goexperiment.simd && amd64

package docscan

import (
	"math/bits"
	"simd/archsimd"
)

// hasAVX2 picks plainRunAVX2 on CPUs that have it (every x86-64 server CPU since 2013-15).
var hasAVX2 = archsimd.X86.AVX2()

// plainRun is plainRunAVX2 where the CPU has AVX2, else plainRunSWAR.
func plainRun(doc []byte, i int) int {
	if hasAVX2 {
		return plainRunAVX2(doc, i)
	}
	return plainRunSWAR(doc, i)
}

// plainRunAVX2 is plainRunSWAR 32 bytes a turn: the long message strings of log documents are
// most of their bytes, and the word-at-a-time loop ran them at ~3.9 GB/s, the largest share of
// weir's CPU after the kernel's copies (bench/RESULTS.md). A byte ends a plain run when it is
// '"', '\\', or below 0x20 or above 0x7f: the last two are one signed comparison, since as
// int8 the bytes 0x80-0xff are negative. What is left under 32 bytes goes to plainRunSWAR.
func plainRunAVX2(doc []byte, i int) int {
	quote := archsimd.BroadcastUint8x32('"')
	backslash := archsimd.BroadcastUint8x32('\\')
	space := archsimd.BroadcastInt8x32(0x20)
	for ; i+32 <= len(doc); i += 32 {
		v := archsimd.LoadUint8x32Slice(doc[i : i+32])
		m := v.Equal(quote).Or(v.Equal(backslash)).Or(v.AsInt8x32().Less(space)).ToBits()
		if m != 0 {
			return i + bits.TrailingZeros32(m)
		}
	}
	return plainRunSWAR(doc, i)
}
