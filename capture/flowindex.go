package capture

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// flowIndex maps flow keys to table entries: open addressing with linear probing and
// backward-shift deletion (no tombstones), in a power-of-two array of 8-byte slots
// holding 32 bits of the key's hash and the entry's index. It stands where a
// map[key]int32 did: with 40-byte keys, a flow-heavy capture (100k flows coming and
// going) spent a fifth of its time in the map's lookups, key comparisons, deletions
// and regrowth after deletions. Here a lookup compares 32-bit hashes and reads the
// entry's key only on a match, which the caller reads next anyway; a deletion moves
// the slots after it back instead of leaving a tombstone, so churn never degrades
// probing; and a slot is 8 bytes instead of ~48.
//
// The table keeps at most half its slots used, so probes stay short. It grows by
// doubling, re-placing the slots from their stored hash without touching the entries.
//
// Captures are untrusted input: a file made so that many flows share a hash would
// make every probe walk all of them. So the index hashes keys with a secret of its
// own (hash, seeded from the runtime's random source), not with key.hash, which picks
// workers and is the same in every run.
type flowIndex struct {
	slots  []flowSlot
	mask   uint32
	n      int // slots used
	secret [6]uint64
	seeded bool
}

// hash is the index's hash of k: three 64×64→128-bit multiplications of the key's
// words mixed with the secret (as wyhash does), folded.
func (x *flowIndex) hash(k *key) uint64 {
	if !x.seeded {
		for i := range x.secret {
			x.secret[i] = rand.Uint64()
		}
		x.seeded = true
	}
	ne, s := binary.NativeEndian, &x.secret
	tail := uint64(k.loPort) | uint64(k.hiPort)<<16 | uint64(k.vlan)<<32 | uint64(k.proto)<<48
	return mix(ne.Uint64(k.lo[:8])^s[0], ne.Uint64(k.lo[8:])^s[1]) ^
		mix(ne.Uint64(k.hi[:8])^s[2], ne.Uint64(k.hi[8:])^s[3]) ^
		mix(tail^s[4], uint64(k.tun)^s[5])
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// flowSlot is one slot: idx < 0 marks it empty.
type flowSlot struct {
	h   uint32 // the high 32 bits of the index's hash; its low bits are the home slot
	idx int32
}

const flowIndexMin = 64

func (x *flowIndex) len() int { return x.n }

// find returns the entry of k (hash h) in t, or ok false.
func (x *flowIndex) find(t *table, k *key, h uint64) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	h32 := uint32(h >> 32)
	for i := h32 & x.mask; ; i = (i + 1) & x.mask {
		s := x.slots[i]
		if s.idx < 0 {
			return 0, false
		}
		if s.h == h32 && t.at(s.idx).key.equal(k) {
			return s.idx, true
		}
	}
}

// insert adds entry idx for a key (hash h) that find did not find.
func (x *flowIndex) insert(h uint64, idx int32) {
	if (x.n+1)*2 > len(x.slots) {
		x.grow()
	}
	h32 := uint32(h >> 32)
	i := h32 & x.mask
	for x.slots[i].idx >= 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = flowSlot{h32, idx}
	x.n++
}

// remove deletes entry idx (hash h), which must be there, and moves back the slots
// of the same probe run that follow it, so that every slot stays reachable from its
// home slot without crossing an empty one.
func (x *flowIndex) remove(h uint64, idx int32) {
	i := uint32(h>>32) & x.mask
	for x.slots[i].idx != idx {
		i = (i + 1) & x.mask
	}
	for j := (i + 1) & x.mask; x.slots[j].idx >= 0; j = (j + 1) & x.mask {
		home := x.slots[j].h & x.mask
		// The slot at j may move to the hole at i unless its home lies cyclically
		// in (i, j]: then it would end up before its home.
		if (j-home)&x.mask >= (j-i)&x.mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = flowSlot{idx: -1}
	x.n--
}

func (x *flowIndex) grow() {
	old := x.slots
	n := max(flowIndexMin, 2*len(old))
	x.slots = make([]flowSlot, n)
	for i := range x.slots {
		x.slots[i].idx = -1
	}
	x.mask = uint32(n - 1)
	for _, s := range old {
		if s.idx < 0 {
			continue
		}
		i := s.h & x.mask
		for x.slots[i].idx >= 0 {
			i = (i + 1) & x.mask
		}
		x.slots[i] = s
	}
}

// clear empties the index, keeping its slots.
func (x *flowIndex) clear() {
	for i := range x.slots {
		x.slots[i] = flowSlot{idx: -1}
	}
	x.n = 0
}
