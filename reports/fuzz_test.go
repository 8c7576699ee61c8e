package reports

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzLoadSummary: LoadSummary never panics, and whatever it accepts survives another
// trip through the JSON encoder unchanged.
func FuzzLoadSummary(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input, which takes long on big ones.
	agg := NewAggregator(Options{Top: 1})
	recs := fixtureRecords()
	for _, i := range []int{0, 6, 9} { // TCP with Veeam, UDP with an ICMP error, ICMP type 0
		agg.Add(&recs[i])
	}
	agg.AddInput(fixtureInputs()[1])
	agg.SetHosts(fixtureHosts()[:1])
	var small strings.Builder
	if err := (JSON{}).Encode(&small, agg.Summary()); err != nil {
		f.Fatal(err)
	}
	f.Add(small.String())
	f.Add(`{"schema_version":1}`)
	f.Add(`{"schema_version":1,"flows":[{"proto":"tcp","first":"2024-01-01T12:00:00+02:00","flags":null}]}`)
	f.Add(`{"schema_version":1,"inputs":[{"path":"\u001b[2J","link_types":null}],"hosts":[{"addr":"x","roles":null}]}`)
	f.Add(`{"schema_version":2}`)
	f.Add(`[1,2,3]`)
	f.Add(`{"schema_version":1,"totals":{"inputs":1},"inputs":[]}`)
	f.Add(`{"schema_version":1,"later":[[{"x":"y"}]],"flows":[],"flows":[]}`)
	f.Add(`{"schema_version":1,"talkers":[{"addr":"::1","as_client":2,"flows":1}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := LoadSummary(strings.NewReader(in))
		if err != nil {
			return
		}
		var buf strings.Builder
		if err := (JSON{}).Encode(&buf, s); err != nil {
			t.Fatalf("encode a loaded summary: %v", err)
		}
		again, err := LoadSummary(strings.NewReader(buf.String()))
		if err != nil {
			t.Fatalf("reload: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("summary changed on a second trip:\n%s", lineDiff(encodeJSON(t, s), encodeJSON(t, again)))
		}
	})
}
