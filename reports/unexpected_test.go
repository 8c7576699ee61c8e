package reports

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
)

// TestUnexpectedSection checks the grouping of the unexpected section (server, port
// and application protocol; reasons united; one client named, more counted), its
// order (largest first), its cut to Top with the rest counted, and that saved
// summaries carry it: loaded back equal, and merged exactly from halves.
func TestUnexpectedSection(t *testing.T) {
	mk := func(client, server string, app appid.Protocol, bytes uint64, rs ...classify.Reason) classify.Flow {
		f := capture.Flow{Proto: capture.ProtoTCP, Client: ap(client), Server: ap(server), Direction: capture.DirSYN,
			State: capture.SF, First: at(int(bytes)), Last: at(int(bytes) + 10), Packets: [2]uint64{2, 2},
			Bytes: [2]uint64{bytes, bytes}, TCPFlags: [2]uint8{capture.FlagSYN | capture.FlagACK, capture.FlagSYN | capture.FlagACK},
			Input: inputA, End: capture.EndInput, App: app}
		v := classify.Verdict{PortClass: ports.ClassOf(f.Server.Port()), Outcome: capture.OutcomeOf(&f), Unexpected: reasons(rs...)}
		for _, r := range rs {
			switch r {
			case classify.ReasonProtocolMismatch:
				v.Flags = v.Flags.With(classify.FlagProtocolMismatch)
			case classify.ReasonEphemeralServer:
				v.Flags = v.Flags.With(classify.FlagDynamicServer)
			}
		}
		return classify.Flow{Flow: f, Verdict: v}
	}
	flows := []classify.Flow{
		mk("192.0.2.1:40000", "198.51.100.5:5432", appid.HTTP, 500, classify.ReasonUnexplainedPort, classify.ReasonProtocolMismatch),
		mk("192.0.2.2:40001", "198.51.100.5:5432", appid.HTTP, 700, classify.ReasonUnexplainedPort, classify.ReasonProtocolMismatch),
		mk("192.0.2.2:40002", "198.51.100.5:5432", appid.Unknown, 100, classify.ReasonUnexplainedPort),
		mk("192.0.2.3:40003", "198.51.100.6:2499", appid.Unknown, 300, classify.ReasonUnexplainedPort),
		mk("192.0.2.3:40004", "198.51.100.6:2499", appid.Unknown, 400, classify.ReasonUnexplainedPort),
		mk("192.0.2.4:40005", "198.51.100.7:50000", appid.Unknown, 50, classify.ReasonUnexplainedPort, classify.ReasonEphemeralServer),
		mk("192.0.2.4:40006", "198.51.100.7:22", appid.HTTP, 5000, classify.ReasonProtocolMismatch),
		mk("192.0.2.4:40007", "198.51.100.8:53", appid.DNS, 9000), // expected
	}
	agg := NewAggregator(Options{Top: 3})
	for i := range flows {
		agg.Add(&flows[i])
	}
	s := agg.Summary()
	var got []string
	for _, u := range s.Unexpected {
		got = append(got, fmt.Sprintf("%s %s:%d %s %q %d %s %d/%d", u.Proto, u.Server, u.Port, u.App, u.Client, u.ClientCount,
			strings.Join(u.Reasons, "+"), u.Flows, u.Bytes))
	}
	want := []string{
		`tcp 198.51.100.7:22 http "192.0.2.4" 1 protocol-mismatch 1/10000`,
		`tcp 198.51.100.5:5432 http "" 2 unexplained-port+protocol-mismatch 2/2400`,
		`tcp 198.51.100.6:2499  "192.0.2.3" 1 unexplained-port 2/1400`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("section\n got %q\nwant %q", got, want)
	}
	if r := s.UnexpectedRest; r == nil || r.Groups != 2 || r.Flows != 2 || r.Bytes != 300 {
		t.Errorf("rest %+v, want 2 groups, 2 flows, 300 bytes", r)
	}
	var text bytes.Buffer
	if err := (Text{}).Encode(&text, s); err != nil {
		t.Fatal(err)
	}
	mustContain(t, text.String(), "Unexpected traffic (top 3)")
	mustContain(t, text.String(), "2 more groups (2 flows, 300 B) not listed (--top).")

	// saved and loaded back, and merged from two halves, the section is the same
	var js bytes.Buffer
	if err := (JSON{}).Encode(&js, s); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadSummary(&js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded.Unexpected, s.Unexpected) || !reflect.DeepEqual(loaded.UnexpectedRest, s.UnexpectedRest) {
		t.Errorf("loaded section differs:\n got %+v %+v\nwant %+v %+v", loaded.Unexpected, loaded.UnexpectedRest, s.Unexpected, s.UnexpectedRest)
	}
	halves := [2]*Aggregator{NewAggregator(Options{Top: 3}), NewAggregator(Options{Top: 3})}
	for i := range flows {
		halves[i%2].Add(&flows[i])
	}
	var saved [2]*Summary
	for i, h := range halves {
		var b bytes.Buffer
		if err := (JSON{}).Encode(&b, h.Summary()); err != nil {
			t.Fatal(err)
		}
		if saved[i], err = LoadSummary(&b); err != nil {
			t.Fatal(err)
		}
	}
	merged, err := Merge(saved[0], saved[1])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(merged.Unexpected, s.Unexpected) || !reflect.DeepEqual(merged.UnexpectedRest, s.UnexpectedRest) {
		t.Errorf("merged section differs:\n got %+v %+v\nwant %+v %+v", merged.Unexpected, merged.UnexpectedRest, s.Unexpected, s.UnexpectedRest)
	}
}

// TestRecordUnexpectedRefused: the loader refuses reasons portclass would not write.
func TestRecordUnexpectedRefused(t *testing.T) {
	recs := fixtureRecords()
	good := written(t, &recs[13]) // HTTP on 3389: unexplained-port, protocol-mismatch
	if _, err := good.flow(); err != nil {
		t.Fatal(err)
	}
	failed := written(t, &recs[4]) // an unanswered SYN
	icmp := written(t, &recs[8])
	for _, tt := range []struct {
		name string
		r    rawRecord
		rs   []string
		flag []string
	}{
		{"unknown reason", good, []string{"odd"}, nil},
		{"twice", good, []string{"unexplained-port", "unexplained-port"}, nil},
		{"out of order", good, []string{"protocol-mismatch", "unexplained-port"}, nil},
		{"mismatch without the flag", good, []string{"protocol-mismatch"}, []string{"direction-guessed"}},
		{"ephemeral on a registered port", good, []string{"ephemeral-server"}, nil},
		{"failed attempt", failed, []string{"unexplained-port"}, nil},
		{"no ports", icmp, []string{"unexplained-port"}, nil},
	} {
		r := tt.r
		r.Unexpected = tt.rs
		if tt.flag != nil {
			r.Flags = tt.flag
		}
		_, err := r.flow()
		if err == nil || !strings.Contains(err.Error(), "unexpected") {
			t.Errorf("%s: error %v, want one about field unexpected", tt.name, err)
		}
	}
}
