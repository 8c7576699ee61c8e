package reports

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// TestMergeAll: splitting records, inputs and hosts into k parts, aggregating each and
// merging them all at once gives exactly the summary of aggregating everything, cut
// to the Top asked for.
func TestMergeAll(t *testing.T) {
	for _, k := range []int{1, 3, 7} {
		for _, top := range []int{0, 4} {
			t.Run(fmt.Sprintf("parts%d/top%d", k, top), func(t *testing.T) {
				recs, inputs, hosts := randomSet(uint64(k), 400)
				rng := rand.New(rand.NewPCG(uint64(k), 9))
				parts := make([][]classify.Flow, k)
				for _, r := range recs {
					i := rng.IntN(k)
					parts[i] = append(parts[i], r)
				}
				ss := make([]*Summary, k)
				var evicted uint64
				for i := range ss {
					// inputs and hosts go to the first and last parts; each part is
					// aggregated complete, MergeAll applies its own top
					var in []capture.InputStats
					var h []Host
					if i == 0 {
						in, h = append(in, inputs[:1]...), append(h, hosts[:1]...)
					}
					if i == k-1 {
						in, h = append(in, inputs[1:]...), append(h, hosts[1:]...)
					}
					ss[i] = aggregate(0, parts[i], in, h, uint64(i))
					evicted += uint64(i)
				}
				all := aggregate(top, recs, inputs, hosts, evicted)
				m, err := MergeAll(Options{Top: top}, ss...)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(m, all) {
					t.Fatalf("MergeAll differs from aggregating all:\n%s", lineDiff(encodeJSON(t, all), encodeJSON(t, m)))
				}
			})
		}
	}
}
