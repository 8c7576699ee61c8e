package capture

// fragTable maps non-first IP fragments to the flow of their first fragment, which
// alone carries the ports. It lives in the reading goroutine, before packets are
// sharded, so a fragment reaches the same worker as its flow. Fragments that arrive
// before their first fragment are held (at most fragHold per datagram and fragHeldMax
// in all), so a flood of fragments without first fragments costs at most fragMax
// entries and fragHeldMax held records (about 8 MiB and 1.8 MiB) however long it lasts.
type fragTable struct {
	m       map[fragKey]*fragEntry
	now     int64
	held    int // records held over all entries
	orphan  uint64
	dropped uint64
}

type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	vlan     uint16
}

type fragEntry struct {
	ts           int64
	haveFirst    bool
	sport, dport uint16
	held         []pkt
}

const (
	fragHold    = 8
	fragHeldMax = 1 << 14         // records held at once, over all datagrams
	fragMax     = 1 << 16         // datagrams tracked at once
	fragTimeout = int64(30 * 1e9) // Linux's default ipfrag_time
)

func (t *fragTable) init() { t.m = map[fragKey]*fragEntry{} }

func fkey(p *pkt) fragKey {
	return fragKey{src: p.src, dst: p.dst, id: p.fragID, proto: p.proto, vlan: p.vlan}
}

// attach fills the ports of non-first fragment p. It returns false when p must be
// held (its first fragment was not seen yet) or dropped.
func (t *fragTable) attach(p *pkt) bool {
	t.tick(p.ts)
	k := fkey(p)
	e := t.m[k]
	if e != nil && e.haveFirst {
		p.sport, p.dport = e.sport, e.dport
		return true
	}
	if e == nil {
		if len(t.m) >= fragMax {
			t.expire(true)
		}
		e = &fragEntry{ts: p.ts}
		t.m[k] = e
	}
	if len(e.held) < fragHold && t.held < fragHeldMax {
		e.held = append(e.held, *p)
		t.held++
	} else {
		t.orphan++
	}
	return false
}

// first records the ports of first fragment p (already sunk) and releases the
// fragments held for its datagram.
func (t *fragTable) first(p *pkt, sink func(*pkt)) {
	t.tick(p.ts)
	k := fkey(p)
	e := t.m[k]
	if e == nil {
		if len(t.m) >= fragMax {
			t.expire(true)
		}
		e = &fragEntry{}
		t.m[k] = e
	}
	e.ts, e.haveFirst, e.sport, e.dport = p.ts, true, p.sport, p.dport
	for i := range e.held {
		h := &e.held[i]
		h.sport, h.dport = p.sport, p.dport
		sink(h)
	}
	t.held -= len(e.held)
	e.held = nil
}

func (t *fragTable) tick(ts int64) {
	if ts > t.now+fragTimeout/4 {
		t.now = ts
		if len(t.m) > 0 {
			t.expire(false)
		}
	} else if ts > t.now {
		t.now = ts
	}
}

// expire drops datagrams older than fragTimeout; with all, everything when that
// frees nothing (the table is full of fresh entries: a fragment flood).
func (t *fragTable) expire(all bool) {
	for k, e := range t.m {
		if t.now-e.ts > fragTimeout {
			t.drop(k, e)
		}
	}
	if all && len(t.m) >= fragMax {
		for k, e := range t.m {
			t.drop(k, e)
		}
	}
}

func (t *fragTable) drop(k fragKey, e *fragEntry) {
	t.orphan += uint64(len(e.held))
	t.held -= len(e.held)
	delete(t.m, k)
}

// orphans returns the number of fragments that never met their first fragment, and
// resets the table.
func (t *fragTable) orphans() uint64 {
	for _, e := range t.m {
		t.orphan += uint64(len(e.held))
	}
	n := t.orphan
	clear(t.m)
	t.orphan, t.held = 0, 0
	return n
}
