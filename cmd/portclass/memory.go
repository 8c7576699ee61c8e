package main

import (
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/portclass/portclass/capture/spool"
	"github.com/portclass/portclass/internal/memlimit"
)

// Memory defaults. Without a bound, memory grows with the flows open at once (5M
// simultaneous flows took 1.43 GB), so --max-flows and --spill-after default to a share
// of the memory the machine has available when portclass starts (MemAvailable, or what
// the cgroup's limit leaves when that is lower; see internal/memlimit), between a floor
// and a cap, and a default run stays flat: at most 1/8 of it for the open flows and
// 1/32 for the finished flows waiting in memory.
const (
	// openFlowBytes is what an open flow costs: 160 bytes of heap
	// (BenchmarkFlowMemory) and as much again of the garbage collector's headroom
	// (half that at portclass's gcPercent, 50: the defaults keep the margin).
	openFlowBytes = 320
	// spooledFlowBytes is what a finished flow waiting in the spool's memory costs:
	// about 200 bytes, its sort key and pointer, and the collector's headroom.
	spooledFlowBytes = 480
	tableShare       = 8  // of the available memory, for the flow table
	spoolShare       = 32 // for the spool
	minMaxFlows      = 50_000
	maxMaxFlows      = 1_000_000
	minSpillAfter    = 10_000
	maxSpillAfter    = spool.DefaultLimit // 200,000
)

// memDefaults are the defaults of --max-flows and --spill-after on this machine.
type memDefaults struct {
	maxFlows, spillAfter int
	limit                memlimit.Limit
	known                bool
}

// memoryDefaults reads the available memory once.
var memoryDefaults = sync.OnceValue(func() memDefaults {
	l, ok := memlimit.Available()
	d := memDefaults{limit: l, known: ok}
	d.maxFlows, d.spillAfter = defaultsFor(l.Bytes, ok)
	return d
})

// defaultsFor is --max-flows and --spill-after for avail bytes of available memory
// (known false: nothing could be read, the caps).
func defaultsFor(avail uint64, known bool) (maxFlows, spillAfter int) {
	if !known {
		return maxMaxFlows, maxSpillAfter
	}
	clamp := func(n uint64, lo, hi int) int { return int(min(max(n, uint64(lo)), uint64(hi))) }
	return clamp(avail/tableShare/openFlowBytes, minMaxFlows, maxMaxFlows),
		clamp(avail/spoolShare/spooledFlowBytes, minSpillAfter, maxSpillAfter)
}

// note is the help text's account of the memory the defaults come from.
func (d memDefaults) note() string {
	if !d.known {
		return "the available memory is unknown here"
	}
	return strconv.FormatUint(d.limit.Bytes>>20, 10) + " MiB available (" + d.limit.Source + ")"
}

// applyMemoryDefaults gives the --max-flows and --spill-after of cmd, and their keys,
// the defaults of this machine's memory. Only the commands that have the flags read
// the memory (/proc and the cgroup files: 0.1-0.2 ms, which the start-up of the other
// commands does not pay). A flag given on the command line keeps its value.
func applyMemoryDefaults(cmd *cobra.Command, v *viper.Viper) {
	mf, sa := cmd.Flags().Lookup("max-flows"), cmd.Flags().Lookup("spill-after")
	if mf == nil && sa == nil {
		return
	}
	d := memoryDefaults()
	for _, x := range []struct {
		f *pflag.Flag
		n int
	}{{mf, d.maxFlows}, {sa, d.spillAfter}} {
		if x.f == nil {
			continue
		}
		n := strconv.Itoa(x.n)
		if !x.f.Changed {
			_ = x.f.Value.Set(n) // Value.Set, not FlagSet.Set: the flag stays not given
		}
		x.f.DefValue = n
		if v != nil {
			v.SetDefault(keyOfFlag(x.f), x.n)
		}
	}
	if mf != nil && !strings.Contains(mf.Usage, "; here ") {
		mf.Usage += "; here " + d.note()
	}
}

// memoryDefaultsInHelp shows the defaults of this machine in the help of the commands
// that have them (help does not load the configuration).
func memoryDefaultsInHelp(root *cobra.Command) {
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		applyMemoryDefaults(c, nil)
		help(c, args)
	})
}
