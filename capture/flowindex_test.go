package capture

import (
	"math/rand/v2"
	"testing"
)

// TestFlowIndex runs random inserts, removals and lookups against a map, with hashes
// crafted to collide (few distinct home slots, runs that wrap around the end of the
// array) and with the real hash, through growth and back to empty.
func TestFlowIndex(t *testing.T) {
	const n = 1000
	tb := &table{chunks: [][]entry{make([]entry, 1<<entryChunkBits)}}
	for i := range n {
		tb.at(int32(i)).key = key{proto: ProtoUDP, loPort: uint16(i), hiPort: uint16(i >> 8), vlan: 7}
	}
	var idx0 flowIndex // only for its hash
	hashes := map[string]func(i int32) uint64{
		"real":    func(i int32) uint64 { return idx0.hash(&tb.at(i).key) },
		"5 homes": func(i int32) uint64 { return uint64(i%5) << 32 },
		"wrap":    func(i int32) uint64 { return uint64(0xffffffff-uint32(i%3)) << 32 }, // homes at the array's end
		"equal":   func(i int32) uint64 { return 42 << 32 },
	}
	for name, hash := range hashes {
		rng := rand.New(rand.NewPCG(1, 2))
		var x flowIndex
		in := map[int32]bool{}
		check := func(op int) {
			for i := int32(0); i < n; i++ {
				j, ok := x.find(tb, &tb.at(i).key, hash(i))
				if ok != in[i] || (ok && j != i) {
					t.Fatalf("%s, op %d: find(%d) = %d, %v; want present %v", name, op, i, j, ok, in[i])
				}
			}
			if x.len() != len(in) {
				t.Fatalf("%s, op %d: len %d, want %d", name, op, x.len(), len(in))
			}
		}
		for op := range 6000 {
			i := int32(rng.IntN(n))
			grow := op < 3000 // inserts outnumber removals, then the other way round
			switch {
			case in[i] && (!grow || rng.IntN(3) == 0):
				x.remove(hash(i), i)
				delete(in, i)
			case !in[i] && (grow || rng.IntN(3) == 0):
				x.insert(hash(i), i)
				in[i] = true
			}
			if op%500 == 0 || name == "equal" && op%50 == 0 {
				check(op)
			}
		}
		check(6000)
		for i := range in {
			x.remove(hash(i), i)
			delete(in, i)
		}
		check(6001)
		x.clear()
		check(6002)
	}
}

// TestKeyEqual checks key.equal against == on keys that differ in one field each.
func TestKeyEqual(t *testing.T) {
	base := key{proto: ProtoTCP, loPort: 1, hiPort: 2, vlan: 3}
	for i := range base.lo {
		base.lo[i], base.hi[i] = byte(i), byte(100+i)
	}
	variants := []func(k *key){
		func(k *key) {},
		func(k *key) { k.proto = ProtoUDP },
		func(k *key) { k.loPort++ },
		func(k *key) { k.hiPort++ },
		func(k *key) { k.vlan++ },
	}
	for i := range 16 {
		variants = append(variants, func(k *key) { k.lo[i]++ }, func(k *key) { k.hi[i]++ })
	}
	for n, v := range variants {
		o := base
		v(&o)
		if got, want := base.equal(&o), base == o; got != want {
			t.Errorf("variant %d: equal %v, == %v", n, got, want)
		}
	}
}

// TestFlowIndexFlood: keys made to share key.hash (which a capture's author can
// compute) spread over the index, whose hash has a secret: probes stay short.
func TestFlowIndexFlood(t *testing.T) {
	const n = 5000
	tb := &table{chunks: make([][]entry, (n>>entryChunkBits)+1)}
	for i := range tb.chunks {
		tb.chunks[i] = make([]entry, 1<<entryChunkBits)
	}
	var first uint64
	for i := range n {
		k := &tb.at(int32(i)).key
		*k = key{proto: ProtoTCP, loPort: 443, hiPort: 50000}
		// hash mixes lo[:8] ^ hi[:8]<<1: keep that constant
		be.PutUint64(k.hi[:8], uint64(i))
		be.PutUint64(k.lo[:8], 0x2001_0db8_0000_0000^uint64(i)<<1)
		if h := k.hash(); i == 0 {
			first = h
		} else if h != first {
			t.Fatalf("key %d: key.hash %#x, want the collision %#x", i, h, first)
		}
	}
	var x flowIndex
	for i := range int32(n) {
		x.insert(x.hash(&tb.at(i).key), i)
	}
	longest := uint32(0)
	for i, s := range x.slots {
		if s.idx >= 0 {
			longest = max(longest, (uint32(i)-s.h)&x.mask)
		}
	}
	if longest > 64 {
		t.Errorf("%d keys sharing key.hash: a probe of %d slots in the index", n, longest)
	}
	for i := range int32(n) {
		if j, ok := x.find(tb, &tb.at(i).key, x.hash(&tb.at(i).key)); !ok || j != i {
			t.Fatalf("key %d: find %d, %v", i, j, ok)
		}
	}
}
