package appid

import (
	"bytes"
	"testing"
)

// fuzzFlow decodes a fuzz input into a flow: the first byte's low bit picks the
// transport (0 TCP, 1 UDP), then each payload is a 2-byte header (the top bit the
// side, 15 bits the length, cut to what is left) and its bytes.
func fuzzFlow(data []byte) (Transport, []pkt) {
	if len(data) == 0 {
		return TCP, nil
	}
	tr := TCP
	if data[0]&1 != 0 {
		tr = UDP
	}
	var pkts []pkt
	for data = data[1:]; len(data) >= 2; {
		side, n := data[0]>>7, int(data[0]&0x7f)<<8|int(data[1])
		data = data[2:]
		n = min(n, len(data))
		pkts = append(pkts, pkt{side, data[:n]})
		data = data[n:]
	}
	return tr, pkts
}

// fuzzInput is the inverse of fuzzFlow, for the seeds.
func fuzzInput(tr Transport, pkts []pkt) []byte {
	out := []byte{0}
	if tr == UDP {
		out[0] = 1
	}
	for _, p := range pkts {
		n := min(len(p.data), 0x7fff)
		out = append(out, p.side<<7|byte(n>>8), byte(n))
		out = append(out, p.data[:n]...)
	}
	return out
}

// outcome is everything a flow's State and Meta say at the end.
type outcome struct {
	proto  Protocol
	client int
	done   bool
	meta   [5]string
}

// feedAll feeds pkts as a flow table would and checks, after every payload, that a
// done State stays done and keeps its verdict.
func feedAll(t *testing.T, tr Transport, pkts []pkt) outcome {
	var st State
	var m Meta
	done, proto := false, Unknown
	for i, p := range pkts {
		d := st.Feed(tr, p.side, p.data)
		if st.HasMeta() {
			st.Take(&m, p.data)
		}
		if done && (!d || st.Protocol() != proto) {
			t.Fatalf("payload %d: done State changed: done %v, %q -> %q", i, d, proto, st.Protocol())
		}
		if d != st.Done() {
			t.Fatalf("payload %d: Feed returned %v, Done() %v", i, d, st.Done())
		}
		done, proto = d, st.Protocol()
		if len(m.hello.buf) > MaxBytes || cap(m.hello.buf) > MaxBytes {
			t.Fatalf("payload %d: ClientHello buffer of %d (cap %d) bytes", i, len(m.hello.buf), cap(m.hello.buf))
		}
	}
	o := outcome{proto: st.Protocol(), client: -1, done: st.Done(), meta: [5]string{m.SNI, m.ALPN, m.HTTPHost, m.SSHBanner[0], m.SSHBanner[1]}}
	if side, ok := st.Client(); ok {
		o.client = int(side)
	}
	return o
}

// FuzzFeed feeds random payload sequences in both directions. Feed and Take must not
// panic, the verdict must be a name of the vocabulary, metadata strings within
// MaxMeta, and the bounds must hold: the same flow with every byte past each side's
// budget (MaxPackets payloads, MaxBytes bytes) changed must end the same way.
func FuzzFeed(f *testing.F) {
	for _, tc := range feedCases {
		f.Add(fuzzInput(tc.tr, tc.pkts))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, pkts := fuzzFlow(data)
		got := feedAll(t, tr, pkts)
		if got.proto >= numProtocols {
			t.Fatalf("protocol %d outside the vocabulary", got.proto)
		}
		if p, err := ParseProtocol(got.proto.String()); err != nil || p != got.proto {
			t.Fatalf("%q does not parse back: %v", got.proto, err)
		}
		for _, s := range got.meta {
			if len(s) > MaxMeta {
				t.Fatalf("metadata of %d bytes: %q", len(s), s)
			}
		}
		var used [2]int
		var n [2]int
		changed := make([]pkt, len(pkts))
		for i, p := range pkts {
			s := p.side & 1
			keep := 0
			if len(p.data) > 0 && n[s] < MaxPackets {
				keep = min(len(p.data), MaxBytes-used[s])
				n[s]++
				used[s] += keep
			}
			d := bytes.Clone(p.data)
			for j := keep; j < len(d); j++ {
				d[j] ^= 0xa5
			}
			changed[i] = pkt{p.side, d}
		}
		if other := feedAll(t, tr, changed); other != got {
			t.Fatalf("bytes past the budget changed the outcome:\n%+v\n%+v", got, other)
		}
	})
}
