package reports

import (
	"io"
	"net/netip"
	"testing"

	"github.com/portclass/portclass/capture"
)

// benchSummary is a summary of n distinct flow records built from the fixture.
func benchSummary(n int) *Summary {
	base := fixtureRecords()
	agg := NewAggregator(Options{Top: 20})
	for i := 0; i < n; i++ {
		r := base[i%len(base)]
		if capture.HasPorts(r.Proto) && r.Client.Addr().Is4() {
			a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			r.Client = netip.AddrPortFrom(a, uint16(30000+i%30000))
		}
		agg.Add(&r)
	}
	return agg.Summary()
}

// BenchmarkEncode encodes 100k records to io.Discard in each record format.
func BenchmarkEncode(b *testing.B) {
	const n = 100_000
	s := benchSummary(n)
	for _, format := range []string{"ndjson", "json", "csv", "ipfix", "parquet"} {
		b.Run(format, func(b *testing.B) {
			enc, _ := EncoderFor[*Summary](format)
			b.ReportAllocs()
			records := 0
			for b.Loop() {
				if err := enc.Encode(io.Discard, s); err != nil {
					b.Fatal(err)
				}
				records += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		})
	}
}

// BenchmarkAggregatorAdd folds records into an Aggregator.
func BenchmarkAggregatorAdd(b *testing.B) {
	s := benchSummary(10_000)
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		agg := NewAggregator(Options{})
		for i := range s.Flows {
			agg.Add(&s.Flows[i])
		}
		records += len(s.Flows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
}

// TestNDJSONNoAllocsPerRecord: the NDJSON encoder's cost does not grow in allocations
// with the number of records.
func TestNDJSONNoAllocsPerRecord(t *testing.T) {
	small, large := benchSummary(10), benchSummary(10_000)
	a := testing.AllocsPerRun(5, func() { _ = (NDJSON{}).Encode(io.Discard, small) })
	b := testing.AllocsPerRun(5, func() { _ = (NDJSON{}).Encode(io.Discard, large) })
	if b > a+2 {
		t.Errorf("ndjson allocations grow with records: %v for 10, %v for 10000", a, b)
	}
}
