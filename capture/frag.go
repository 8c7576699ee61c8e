package capture

// fragTable maps non-first IP fragments to the flow of their first fragment, which
// alone carries the ports. It lives in the reading goroutine, before packets are
// sharded, so a fragment reaches the same worker as its flow. Fragments that arrive
// before their first fragment are held (at most fragHold per datagram and fragHeldMax
// in all), so a flood of fragments without first fragments costs at most fragMax
// entries and fragHeldMax held records (about 11 MiB and 2 MiB) however long it lasts.
//
// Tunnels: a datagram is identified by its IP layer and the tunnel path around that
// layer (by content hash: path handles may be reused while a datagram waits). Inner
// fragments (the innermost packet fragmented, each fragment encapsulated) are matched
// as above. Outer fragments (the IP layer that carries a tunnel fragmented, as GTP-U
// and GRE links often do) belong to the flow of the innermost packet their first
// fragment carries: firstOuter records that flow's identity, and the non-first
// fragments, which decode no further than their own IP header, take it on.
type fragTable struct {
	m       map[fragKey]*fragEntry
	paths   *pathTable // the table whose handles the entries hold (inner.tun)
	now     int64
	held    int // records held over all entries
	orphan  uint64
	dropped uint64
}

type fragKey struct {
	src, dst [16]byte
	path     uint64 // hash of the tunnel path around the fragmented IP layer; 0: none
	id       uint32
	proto    uint8
	vlan     uint16
}

type fragEntry struct {
	ts           int64
	haveFirst    bool
	outer        bool // the fragmented layer carries a tunnel: inner is the flow
	sport, dport uint16
	inner        fragFlow
	held         []pkt
}

// fragFlow is the identity of the innermost packet of an outer fragment's datagram.
// tun holds a reference in the path table while the entry lives.
type fragFlow struct {
	src, dst           [16]byte
	sport, dport, vlan uint16
	tun                uint16
	proto, tunSwap     uint8
	v6                 bool
}

func flowOf(p *pkt) fragFlow {
	return fragFlow{src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, vlan: p.vlan, tun: p.tun, proto: p.proto, tunSwap: p.tunSwap, v6: p.v6}
}

// apply gives fragment p the flow of its datagram.
func (e *fragEntry) apply(p *pkt) {
	if !e.outer {
		p.sport, p.dport = e.sport, e.dport
		return
	}
	f := &e.inner
	p.src, p.dst, p.sport, p.dport, p.vlan, p.tun, p.proto, p.tunSwap, p.v6 = f.src, f.dst, f.sport, f.dport, f.vlan, f.tun, f.proto, f.tunSwap, f.v6
}

const (
	fragHold    = 8
	fragHeldMax = 1 << 14         // records held at once, over all datagrams
	fragMax     = 1 << 16         // datagrams tracked at once
	fragTimeout = int64(30 * 1e9) // Linux's default ipfrag_time
)

func (t *fragTable) init() { t.m = map[fragKey]*fragEntry{} }

func fkey(p *pkt, path uint64) fragKey {
	return fragKey{src: p.src, dst: p.dst, path: path, id: p.fragID, proto: p.proto, vlan: p.vlan}
}

// attach gives non-first fragment p (inside the tunnel path of hash path) the flow of
// its datagram: the ports of its first fragment or, for an outer fragment, the whole
// identity of the innermost packet. It returns false when p must be held (its first
// fragment was not seen yet) or dropped.
func (t *fragTable) attach(p *pkt, path uint64) bool {
	t.tick(p.ts)
	k := fkey(p, path)
	e := t.m[k]
	if e != nil && e.haveFirst {
		e.apply(p)
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

// first records the ports of first fragment p (already sunk; inside the tunnel path
// of hash path) and releases the fragments held for its datagram.
func (t *fragTable) first(p *pkt, path uint64, sink func(*pkt)) {
	e := t.entry(p.ts, fkey(p, path))
	t.setOuter(e, false, nil)
	e.ts, e.haveFirst, e.sport, e.dport = p.ts, true, p.sport, p.dport
	t.release(e, p, sink)
}

// firstOuter records that the datagram of the outer first fragment of (inside the
// tunnel path of hash path) carries innermost packet p (already sunk), and releases
// the fragments held for it.
func (t *fragTable) firstOuter(of *outerFrag, path uint64, p *pkt, sink func(*pkt)) {
	e := t.entry(p.ts, fragKey{src: of.src, dst: of.dst, path: path, id: of.id, proto: of.proto, vlan: of.vlan})
	f := flowOf(p)
	t.setOuter(e, true, &f)
	e.ts, e.haveFirst = p.ts, true
	t.release(e, p, sink)
}

// entry returns the entry of k, made when new.
func (t *fragTable) entry(ts int64, k fragKey) *fragEntry {
	t.tick(ts)
	e := t.m[k]
	if e == nil {
		if len(t.m) >= fragMax {
			t.expire(true)
		}
		e = &fragEntry{}
		t.m[k] = e
	}
	return e
}

// setOuter makes e an outer fragment's entry for flow f, or an ordinary one.
func (t *fragTable) setOuter(e *fragEntry, outer bool, f *fragFlow) {
	if e.outer {
		t.paths.unref(e.inner.tun)
	}
	e.outer, e.inner = outer, fragFlow{}
	if outer {
		e.inner = *f
		t.paths.ref(f.tun)
	}
}

// release sinks the fragments held for e, first fragment p's datagram. Their own
// path handles may be stale (they were interned when they came): the first's are used.
func (t *fragTable) release(e *fragEntry, p *pkt, sink func(*pkt)) {
	for i := range e.held {
		h := &e.held[i]
		h.tun, h.tunSwap = p.tun, p.tunSwap
		e.apply(h)
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
	t.setOuter(e, false, nil)
	delete(t.m, k)
}

// orphans returns the number of fragments that never met their first fragment, and
// resets the table.
func (t *fragTable) orphans() uint64 {
	for _, e := range t.m {
		t.orphan += uint64(len(e.held))
		t.setOuter(e, false, nil)
	}
	n := t.orphan
	clear(t.m)
	t.orphan, t.held = 0, 0
	return n
}
