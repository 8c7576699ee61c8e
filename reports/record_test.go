package reports

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// written returns f as a flow record reads back with encoding/json into rawRecord.
func written(t *testing.T, f *classify.Flow) rawRecord {
	t.Helper()
	var r rawRecord
	if err := json.Unmarshal(appendRecord(nil, f, false), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordFields(t *testing.T) {
	recs := fixtureRecords()
	tests := []struct {
		name  string
		index int
		check func(t *testing.T, r rawRecord)
	}{
		{"tcp ipv4", 0, func(t *testing.T, r rawRecord) {
			want := rawRecord{Proto: "tcp", Client: "192.0.2.10:50123", Server: "192.0.2.21:6160", Direction: "syn", State: "SF",
				First: at(0), Last: at(1500), PacketsToServer: 12, PacketsToClient: 10, BytesToServer: 2400, BytesToClient: 5300,
				TCPFlagsToServer: "SAFP", TCPFlagsToClient: "SAFP", PortClass: "registered", Flags: []string{"veeam"},
				Veeam:      []rawMatch{{Rule: veeamInstaller.ID(), Service: veeamInstaller.Rule().Service, From: "backup-server", To: veeamInstaller.Rule().To}},
				ICMPErrors: []ICMPError{}, Input: inputA, End: "timeout", IANAService: new(string)}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("got  %+v\nwant %+v", r, want)
			}
		}},
		{"udp with icmp error", 6, func(t *testing.T, r rawRecord) {
			want := []ICMPError{{Type: 3, Code: 3, From: "198.51.100.7", Count: 2}}
			if !reflect.DeepEqual(r.ICMPErrors, want) || r.TCPFlagsToServer != "" || r.End != "end-of-input" {
				t.Errorf("icmp_errors %+v, tcp flags %q, end %q", r.ICMPErrors, r.TCPFlagsToServer, r.End)
			}
		}},
		{"vlan", 7, func(t *testing.T, r rawRecord) {
			if r.VLAN != 20 || r.Direction != "service-port" || r.Service != "domain" {
				t.Errorf("vlan %d, direction %q, service %q", r.VLAN, r.Direction, r.Service)
			}
		}},
		{"icmp has no ports", 8, func(t *testing.T, r rawRecord) {
			if r.Client != "192.0.2.100" || r.Server != "192.0.2.10" || r.ICMPType != 8 || r.PortClass != "" {
				t.Errorf("client %q server %q type %d class %q", r.Client, r.Server, r.ICMPType, r.PortClass)
			}
			if r.Flags == nil || r.Veeam == nil || r.ICMPErrors == nil {
				t.Error("nil list in a record from an empty verdict: want []")
			}
		}},
		{"ipv6 brackets", 10, func(t *testing.T, r rawRecord) {
			if r.Client != "[2001:db8::10]:49800" || r.Server != "[2001:db8::20]:443" || r.Direction != "syn-ack" {
				t.Errorf("client %q server %q direction %q", r.Client, r.Server, r.Direction)
			}
		}},
		{"icmpv6 error", 11, func(t *testing.T, r rawRecord) {
			want := []ICMPError{{V6: true, Type: 1, Code: 1, From: "2001:db8::1", Count: 1}}
			if !reflect.DeepEqual(r.ICMPErrors, want) {
				t.Errorf("icmp_errors %+v", r.ICMPErrors)
			}
		}},
		{"protocol without ports", 12, func(t *testing.T, r rawRecord) {
			if r.Proto != "ip-47" || r.Client != "198.51.100.1" || r.Server != "198.51.100.2" {
				t.Errorf("proto %q client %q server %q", r.Proto, r.Client, r.Server)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, written(t, &recs[tt.index]))
		})
	}
}

func TestRecordEmptyVerdictAndLocalTime(t *testing.T) {
	loc := time.FixedZone("UTC+2", 2*3600)
	f := classify.Flow{Flow: capture.Flow{Proto: capture.ProtoUDP, Client: ap("192.0.2.1:5000"), Server: ap("192.0.2.2:53"),
		First: time.Date(2024, 1, 1, 12, 0, 0, 5, loc), Last: time.Date(2024, 1, 1, 12, 0, 1, 0, loc), State: capture.S0}}
	line := string(appendRecord(nil, &f, false))
	if !strings.Contains(line, `"first":"2024-01-01T10:00:00.000000005Z"`) {
		t.Errorf("time not written with nine digits in UTC: %s", line)
	}
	if !strings.Contains(line, `"port_class":"","service":"","flags":[],"veeam":[],"icmp_errors":[]`) {
		t.Errorf("empty verdict: %s", line)
	}
}

// TestRecordRoundTrip: the loader reads what the appender wrote back into an equal
// flow, which the appender writes again byte for byte, for every fixture record, for
// NDJSON lines (which add schema_version) and for hostile but valid UTF-8 strings.
func TestRecordRoundTrip(t *testing.T) {
	recs := append(fixtureRecords(), tunnelRecords(t)...)
	hostile := recs[0]
	hostile.Input = "a\"b\\c\x00\x1b[2J\r\n\t\u2028\u2029é"
	hostile.Service = "</script><b>"
	recs = append(recs, hostile)
	for i, f := range recs {
		for _, schema := range []bool{false, true} {
			b := appendRecord(nil, &f, schema)
			var raw rawRecord
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatalf("record %d: unmarshal %s: %v", i, b, err)
			}
			got, err := raw.flow()
			if err != nil {
				t.Fatalf("record %d: the loader refuses what the appender wrote: %v\n%s", i, err, b)
			}
			want := f
			want.First, want.Last = f.First.UTC(), f.Last.UTC()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("record %d (schema %v) does not round-trip:\n got %+v\nwant %+v\njson %s", i, schema, got, want, b)
			}
			if again := appendRecord(nil, &got, schema); string(again) != string(b) {
				t.Errorf("record %d: written again differently:\n%s\n%s", i, b, again)
			}
		}
	}
}

// TestRecordAppenderMatchesRaw keeps the hand-written appender and the loader's struct
// tags in agreement: the appender writes exactly the fields encoding/json would write
// from rawRecord (same names, same order), with equal values.
func TestRecordAppenderMatchesRaw(t *testing.T) {
	for i, f := range append(fixtureRecords(), tunnelRecords(t)...) {
		ours := appendRecord(nil, &f, false)
		raw := written(t, &f)
		theirs, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		ok, ek := jsonKeys(t, ours), jsonKeys(t, theirs)
		// rawRecord always has icmp_type/icmp_code; the appender writes them for ICMP
		// flows only. Everything else must match in name and order.
		if !isICMP(f.Proto) {
			ek = slices.DeleteFunc(ek, func(k string) bool { return k == "icmp_type" || k == "icmp_code" })
		}
		if !reflect.DeepEqual(ok, ek) {
			t.Errorf("record %d: keys\n ours   %v\n encoding/json %v", i, ok, ek)
		}
		var a, b map[string]any
		_ = json.Unmarshal(ours, &a)
		_ = json.Unmarshal(theirs, &b)
		for k, v := range a {
			if k == "first" || k == "last" {
				ta, _ := time.Parse(time.RFC3339Nano, v.(string))
				tb, _ := time.Parse(time.RFC3339Nano, b[k].(string))
				if !ta.Equal(tb) {
					t.Errorf("record %d: %s %v vs %v", i, k, v, b[k])
				}
				continue
			}
			if !reflect.DeepEqual(b[k], v) {
				t.Errorf("record %d: %s = %v, encoding/json says %v", i, k, v, b[k])
			}
		}
	}
}

// TestRecordRefused: the loader refuses every field that portclass would not have
// written, naming the field.
func TestRecordRefused(t *testing.T) {
	good := written(t, &fixtureRecords()[0])
	for _, tt := range []struct {
		field string
		edit  func(r *rawRecord)
	}{
		{"proto", func(r *rawRecord) { r.Proto = "tcp\x00" }},
		{"proto", func(r *rawRecord) { r.Proto = "ip-6" }},
		{"client", func(r *rawRecord) { r.Client = "not-an-address" }},
		{"server", func(r *rawRecord) { r.Server = "::::" }},
		{"server", func(r *rawRecord) { r.Server = "192.0.2.1:99999" }},
		{"server", func(r *rawRecord) { r.Server = "192.0.2.1" }},
		{"client", func(r *rawRecord) { r.Client = "[fe80::1%eth0]:22" }},
		{"direction", func(r *rawRecord) { r.Direction = "sideways" }},
		{"state", func(r *rawRecord) { r.State = "XX" }},
		{"end", func(r *rawRecord) { r.End = "forever" }},
		{"last", func(r *rawRecord) { r.Last = r.First.Add(-525960 * time.Hour) }},
		{"tcp_flags_to_server", func(r *rawRecord) { r.TCPFlagsToServer = "SSX" }},
		{"icmp_type", func(r *rawRecord) { r.ICMPType = 3 }},
		{"port_class", func(r *rawRecord) { r.PortClass = "dynamic" }},
		{"flags", func(r *rawRecord) { r.Flags = []string{"veeam", "made-up"} }},
		{"flags", func(r *rawRecord) { r.Flags = []string{"server-ephemeral:has space"} }},
		{"veeam[0].rule", func(r *rawRecord) { r.Veeam[0].Rule = "no-such-rule" }},
		{"veeam[0]", func(r *rawRecord) { r.Veeam[0].Service = "Something else" }},
		{"icmp_errors[0].from", func(r *rawRecord) {
			r.ICMPErrors = []ICMPError{{Type: 3, Code: 1, From: "router", Count: 1}}
		}},
	} {
		r := good
		r.Flags = slices.Clone(good.Flags)
		r.Veeam = slices.Clone(good.Veeam)
		tt.edit(&r)
		_, err := r.flow()
		var re *recordError
		if !errors.As(err, &re) || re.field != tt.field {
			t.Errorf("%s: error %v, want one about field %s", tt.field, err, tt.field)
		}
	}
	udp := written(t, &fixtureRecords()[6])
	udp.TCPFlagsToServer = "S"
	if _, err := udp.flow(); err == nil || !strings.Contains(err.Error(), "only TCP flows") {
		t.Errorf("tcp flags on udp: %v", err)
	}
}

func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var keys []string
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				depth++
				expectKey = depth == 1
			case '}':
				depth--
				expectKey = depth == 1
			case '[':
				depth++
			case ']':
				depth--
				expectKey = depth == 1
			}
		default:
			if depth == 1 && expectKey {
				keys = append(keys, v.(string))
				expectKey = false
			} else if depth == 1 {
				expectKey = true
			}
		}
	}
	return keys
}

func insertAfter(keys []string, after string, add ...string) []string {
	for i, k := range keys {
		if k == after {
			return append(append(append([]string{}, keys[:i+1]...), add...), keys[i+1:]...)
		}
	}
	return keys
}

func TestRecordInvalidUTF8(t *testing.T) {
	f := fixtureRecords()[0]
	f.Input = "bad\xffname"
	var got rawRecord
	if err := json.Unmarshal(appendRecord(nil, &f, true), &got); err != nil {
		t.Fatal(err)
	}
	if got.Input != "bad\ufffdname" {
		t.Errorf("invalid UTF-8 decoded as %q, want U+FFFD replacement", got.Input)
	}
}

func TestAppendTimeMatchesFormat(t *testing.T) {
	for _, tm := range []time.Time{
		{}, at(0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 1, time.UTC), time.Unix(0, 1715000000123456789),
	} {
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(TimeLayout); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestEndpointInvalid(t *testing.T) {
	if got := endpoint(capture.ProtoTCP, netip.AddrPort{}); got != "" {
		t.Errorf("invalid endpoint = %q, want empty", got)
	}
}

// TestRecordIANAService: iana_service is the last field of a record, and a record
// written before it existed loads with service's value, the IANA (or user) name
// records carried then.
func TestRecordIANAService(t *testing.T) {
	f := fixtureRecords()[0]
	f.Service, f.IANAService = "Veeam Installer Service (Windows) / Veeam Deployer Service (Linux)", "ampl-lic"
	line := string(appendRecord(nil, &f, true))
	if !strings.HasSuffix(line, `,"end":"timeout","iana_service":"ampl-lic"}`) {
		t.Errorf("record does not end with iana_service: %s", line)
	}
	old := strings.Replace(line, `,"iana_service":"ampl-lic"`, "", 1)
	old = strings.Replace(old, f.Service, "ampl-lic", 1)
	var r rawRecord
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	g, err := r.flow()
	if err != nil {
		t.Fatal(err)
	}
	if g.Service != "ampl-lic" || g.IANAService != "ampl-lic" {
		t.Errorf("old record: service %q, iana_service %q, want ampl-lic twice", g.Service, g.IANAService)
	}
}
