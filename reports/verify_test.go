package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/policy"
)

const verifyTestPolicy = `
inventory:
  backup-server: [192.0.2.10]
rules:
  - {name: console, from: 192.0.2.100, to: backup-server, proto: tcp, ports: [9392, 2500-2501], expect: required, note: "say \e[2J | hi"}
  - {name: no-telnet, from: any, to: any, proto: tcp, ports: 23, expect: forbidden}
  - {name: web, from: any, to: 203.0.113.0/24, proto: tcp, ports: 443, expect: allowed}
`

// verifyFixture checks a few flows against verifyTestPolicy; bad is put in every string a
// capture or the configuration can set (input path, service names, policy path).
func verifyFixture(t *testing.T, bad string) *VerifyReport {
	t.Helper()
	p, err := policy.Load("policy"+bad+".yaml", []byte(verifyTestPolicy), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := p.NewVerifier()
	fl := func(c, s string, st capture.State, pkts ...uint64) *capture.Flow {
		f := &capture.Flow{Proto: capture.ProtoTCP, Client: ap(c), Server: ap(s), State: st, First: at(1), Last: at(2),
			Packets: [2]uint64{pkts[0], pkts[1]}, Bytes: [2]uint64{60 * pkts[0], 60 * pkts[1]}, Input: bad}
		return f
	}
	blocked := fl("192.0.2.100:50001", "192.0.2.10:2501", capture.S0, 2, 0)
	blocked.ICMPErrors = []capture.ICMPError{{Type: 3, Code: 13, From: netip.MustParseAddr("192.0.2.1"), Count: 2}}
	for _, f := range []*capture.Flow{
		fl("192.0.2.100:50000", "192.0.2.10:9392", capture.SF, 10, 9),
		blocked,
		fl("198.51.100.7:40000", "192.0.2.10:23", capture.SF, 5, 5),
		fl("198.51.100.7:40001", "192.0.2.11:23", capture.REJ, 1, 1),
		fl("192.0.2.100:50002", "203.0.113.5:443", capture.SF, 4, 4),
		fl("192.0.2.100:50003", "192.0.2.99:8080", capture.SF, 40, 40),
		fl("192.0.2.100:50004", "192.0.2.98:8080", capture.S0, 3, 0),
	} {
		v.Add(&classify.Flow{Flow: *f, Verdict: classify.Verdict{Outcome: capture.OutcomeOf(f)}})
	}
	agg := NewAggregator(Options{})
	agg.AddInput(capture.InputStats{Path: bad, Format: "pcap", Packets: 77, Truncated: true, TruncatedAt: 1234})
	return NewVerifyReport(v.Result(), agg.Summary(), VerifyOptions{FailOn: policy.FailDefault,
		Service: func(proto uint8, port uint16) string { return "svc" + bad }})
}

func TestVerifyReport(t *testing.T) {
	r := verifyFixture(t, "")
	if r.Result != "fail" || r.Findings != (VerifyFindings{RequiredOK: 1, Blocked: 1, NotTested: 0, Forbidden: 1, ForbiddenAttempts: 1, Undocumented: 2}) {
		t.Fatalf("result %s, findings %+v", r.Result, r.Findings)
	}
	var got []string
	for _, q := range r.Required {
		got = append(got, q.Rule+" "+q.From+" "+q.To+" "+q.Proto+"/"+q.Port+" "+q.Verdict+": "+q.Summary)
	}
	want := []string{
		"console 192.0.2.100 192.0.2.10 tcp/9392 ok: 1 flow established",
		"console 192.0.2.100 192.0.2.10 tcp/2501 blocked-icmp: ICMP 3/13 communication administratively prohibited from 192.0.2.1 (2)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("required:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Undocumented: largest first. Forbidden: the answered group is a finding, the
	// refused one is not.
	if len(r.Undocumented) != 2 || r.Undocumented[0].Server != "192.0.2.99" || r.Undocumented[1].Summary != "3 SYNs, no answer" || !r.Undocumented[1].Finding {
		t.Errorf("undocumented %+v", r.Undocumented)
	}
	if len(r.Forbidden) != 2 || !r.Forbidden[0].Finding || r.Forbidden[1].Finding || r.Forbidden[1].Outcome != "blocked-refused" {
		t.Errorf("forbidden %+v", r.Forbidden)
	}
	if len(r.Documented) != 2 || r.Documented[0].Flows != 2 || r.Documented[1].Rule != "web" || r.Documented[1].Flows != 1 {
		t.Errorf("documented %+v", r.Documented)
	}
	if len(r.Rules) != 3 || r.Rules[0].Line != 5 || r.Rules[0].Ports != "9392, 2500-2501" || r.Rules[2].To[0] != "203.0.113.0/24" {
		t.Errorf("rules %+v", r.Rules)
	}
	// The text report says what a blocked rule is for (its note), once; a forbidden
	// rule without a note gets no line.
	var text bytes.Buffer
	if err := (VerifyText{}).Encode(&text, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text.String(), "! console: say"); n != 1 {
		t.Errorf("the blocked rule's note appears %d times in the text report:\n%s", n, text.String())
	}
	if strings.Contains(text.String(), "! no-telnet:") {
		t.Errorf("a rule without a note got a note line:\n%s", text.String())
	}
	// JSON round trip.
	var buf bytes.Buffer
	if err := (VerifyJSON{}).Encode(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back VerifyReport
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("JSON round trip differs:\n%+v\n%+v", back, *r)
	}
	var raw map[string]any
	json.Unmarshal(buf.Bytes(), &raw)
	for _, k := range []string{"schema_version", "policy", "result", "fail_on", "findings", "required", "forbidden", "undocumented", "documented", "rules", "veeam_versions"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	for _, f := range FormatsFor[*VerifyReport]() {
		if _, err := EncoderFor[*VerifyReport](f); err != nil {
			t.Error(err)
		}
	}
	if _, err := EncoderFor[*VerifyReport]("csv"); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "json, md, text") {
		t.Errorf("csv: %v", err)
	}
}

// TestVerifyEscaping: strings from the capture, the configuration and the policy file
// cannot inject terminal escapes or Markdown into the human reports, nor break the
// JSON.
func TestVerifyEscaping(t *testing.T) {
	bad := "x" + hostileClear + "y\rz\x00w\xff|`*v\u009b\u202e"
	r := verifyFixture(t, bad)
	for _, format := range FormatsFor[*VerifyReport]() {
		t.Run(format, func(t *testing.T) {
			enc, _ := EncoderFor[*VerifyReport](format)
			var buf bytes.Buffer
			if err := enc.Encode(&buf, r); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			checkTerminalSafe(t, out)
			switch format {
			case "text":
				mustContain(t, out, `policyx\x1b[2Jy\x0dz\x00w\xff|`+"`*v"+`\xc2\x9b\u202e.yaml`)
				mustContain(t, out, `svcx\x1b[2J`)
			case "md":
				mustContain(t, out, `policyx\\x1b\[2Jy\\x0dz\\x00w\\xff\|\`+"`"+`\*v`)
				checkMarkdownTables(t, out)
			case "json":
				var back VerifyReport
				if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
					t.Fatal(err)
				}
				if back.Inputs[0].Path != strings.ToValidUTF8(bad, "\ufffd") {
					t.Errorf("path %q after the round trip", back.Inputs[0].Path)
				}
			}
		})
	}
}
