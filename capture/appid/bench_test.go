package appid

import "testing"

// BenchmarkFeed feeds whole flows, as a flow table would, and reports the cost per
// payload fed:
//
//   - mix: every flow of the table tests (first messages of every protocol, and the
//     near misses), metadata taken;
//   - unknown: payloads no rule recognises, four a side over TCP and over UDP, so
//     every rule runs and fails (the worst case per payload);
//   - tls: a ClientHello and its ServerHello, metadata taken.
func BenchmarkFeed(b *testing.B) {
	unknown := []feedCase{
		{tr: TCP, pkts: []pkt{cli(blob(200, 1)), srv(blob(1400, 2)), cli(blob(60, 3)), srv(blob(1400, 4)),
			cli(blob(500, 5)), srv(blob(1400, 6)), cli(blob(90, 7)), srv(blob(1400, 8))}},
		{tr: UDP, pkts: []pkt{cli(blob(48, 9)), srv(blob(300, 10)), cli(blob(120, 11)), srv(blob(64, 12)),
			cli(blob(48, 13)), srv(blob(300, 14)), cli(blob(120, 15)), srv(blob(64, 16))}},
	}
	tls := []feedCase{{tr: TCP, pkts: []pkt{cli(tlsClientHello), srv(tlsServerHello)}}}
	for _, bc := range []struct {
		name  string
		flows []feedCase
	}{{"mix", feedCases}, {"unknown", unknown}, {"tls", tls}} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				for i := range bc.flows {
					tc := &bc.flows[i]
					var st State
					var m Meta
					for _, p := range tc.pkts {
						done := st.Feed(tc.tr, p.side, p.data)
						n++
						if st.HasMeta() {
							st.Take(&m, p.data)
						}
						if done {
							break
						}
					}
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "payloads/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/payload")
		})
	}
}
