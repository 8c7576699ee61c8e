package reports

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBreakdownTop: the top entries kept as they come are those of sorting every entry
// (by bytes, then key) and cutting, with many ties in bytes, for tops below, at and
// above the number of entries.
func TestBreakdownTop(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 9, 10, 11, 100, 5000} {
		m := map[string]*Talker{}
		for i := range n {
			addr := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
			m[addr] = &Talker{Addr: addr, Counts: Counts{Flows: 1, Bytes: uint64(r.IntN(7))}} // many ties
		}
		mk := func(k string, v *Talker) Talker { return *v }
		byKey := func(x, y Talker) int { return cmp.Compare(x.Addr, y.Addr) }
		all := breakdown(maps.All(m), mk, byKey, 0)
		if !slices.IsSortedFunc(all, func(x, y Talker) int { return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), byKey(x, y)) }) || len(all) != n {
			t.Fatalf("n=%d: all entries: %d, not sorted", n, len(all))
		}
		for _, top := range []int{1, 3, 10, n, n + 1} {
			if top <= 0 {
				continue
			}
			got := breakdown(maps.All(m), mk, byKey, top)
			want := all[:min(top, n)]
			if !slices.Equal(got, want) {
				t.Errorf("n=%d top=%d:\n got %v\nwant %v", n, top, got, want)
			}
		}
	}
}
