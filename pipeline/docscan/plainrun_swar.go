//go:build !(goexperiment.simd && amd64)

package docscan

// plainRun is plainRunSWAR: this build has no vector version (see plainrun_simd.go).
func plainRun(doc []byte, i int) int { return plainRunSWAR(doc, i) }
