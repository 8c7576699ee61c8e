package main

import (
	"io"
	"testing"
)

// BenchmarkStartup is what analyze pays before it reads a packet: the commands, the
// configuration (defaults, environment, no file) and the analysis pipeline. The
// embedded Veeam matrix is built once per process (classify's BenchmarkDefaultMatrix
// measures that); benchcompare measures the start-up of the whole process.
func BenchmarkStartup(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		a := newApp(nil, io.Discard, io.Discard)
		root := a.rootCmd()
		cmd, _, err := root.Find([]string{"analyze"})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.loadConfig(cmd); err != nil {
			b.Fatal(err)
		}
		if _, err := a.newPipeline(&a.cfg); err != nil {
			b.Fatal(err)
		}
	}
}
