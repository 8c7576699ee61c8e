package capture

// flowIndex maps flow keys to table entries: open addressing with linear probing and
// backward-shift deletion (no tombstones), in a power-of-two array of 8-byte slots
// holding the high 32 bits of the key's hash and the entry's index (the low bits pick
// the worker, hash % workers, so within one table they may all be alike). It stands where a
// map[key]int32 did: with 40-byte keys, a flow-heavy capture (100k flows coming and
// going) spent a fifth of its time in the map's lookups, key comparisons, deletions
// and regrowth after deletions. Here a lookup compares 32-bit hashes and reads the
// entry's key only on a match, which the caller reads next anyway; a deletion moves
// the slots after it back instead of leaving a tombstone, so churn never degrades
// probing; and a slot is 8 bytes instead of ~48.
//
// The table keeps at most half its slots used, so probes stay short. It grows by
// doubling, re-placing the slots from their stored hash without touching the entries.
type flowIndex struct {
	slots []flowSlot
	mask  uint32
	n     int // slots used
}

// flowSlot is one slot: idx < 0 marks it empty.
type flowSlot struct {
	h   uint32 // the high 32 bits of key.hash(); its low bits are the home slot
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
