package reports

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/veeam"
)

func TestNewRecord(t *testing.T) {
	ff := fixtureFlows()
	tests := []struct {
		name  string
		index int
		check func(t *testing.T, r Record)
	}{
		{"tcp ipv4", 0, func(t *testing.T, r Record) {
			want := Record{Proto: "tcp", Client: "192.0.2.10:50123", Server: "192.0.2.21:6160", Direction: "syn", State: "SF",
				First: at(0), Last: at(1500), PacketsToServer: 12, PacketsToClient: 10, BytesToServer: 2400, BytesToClient: 5300,
				TCPFlagsToServer: "SAFP", TCPFlagsToClient: "SAFP", PortClass: "registered", Flags: []string{"veeam"},
				Veeam: []veeam.Match{veeamInstaller}, ICMPErrors: []ICMPError{}, Input: inputA, End: "timeout"}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("got  %+v\nwant %+v", r, want)
			}
		}},
		{"udp with icmp error", 6, func(t *testing.T, r Record) {
			want := []ICMPError{{Type: 3, Code: 3, From: "198.51.100.7", Count: 2}}
			if !reflect.DeepEqual(r.ICMPErrors, want) || r.TCPFlagsToServer != "" || r.End != "end-of-input" {
				t.Errorf("icmp_errors %+v, tcp flags %q, end %q", r.ICMPErrors, r.TCPFlagsToServer, r.End)
			}
		}},
		{"vlan", 7, func(t *testing.T, r Record) {
			if r.VLAN != 20 || r.Direction != "service-port" || r.Service != "domain" {
				t.Errorf("vlan %d, direction %q, service %q", r.VLAN, r.Direction, r.Service)
			}
		}},
		{"icmp has no ports", 8, func(t *testing.T, r Record) {
			if r.Client != "192.0.2.100" || r.Server != "192.0.2.10" || r.ICMPType != 8 || r.PortClass != "" {
				t.Errorf("client %q server %q type %d class %q", r.Client, r.Server, r.ICMPType, r.PortClass)
			}
			if r.Flags == nil || r.Veeam == nil || r.ICMPErrors == nil {
				t.Error("nil list in a record from an empty verdict")
			}
		}},
		{"ipv6 brackets", 10, func(t *testing.T, r Record) {
			if r.Client != "[2001:db8::10]:49800" || r.Server != "[2001:db8::20]:443" || r.Direction != "syn-ack" {
				t.Errorf("client %q server %q direction %q", r.Client, r.Server, r.Direction)
			}
		}},
		{"icmpv6 error", 11, func(t *testing.T, r Record) {
			want := []ICMPError{{V6: true, Type: 1, Code: 1, From: "2001:db8::1", Count: 1}}
			if !reflect.DeepEqual(r.ICMPErrors, want) {
				t.Errorf("icmp_errors %+v", r.ICMPErrors)
			}
		}},
		{"protocol without ports", 12, func(t *testing.T, r Record) {
			if r.Proto != "ip-47" || r.Client != "198.51.100.1" || r.Server != "198.51.100.2" {
				t.Errorf("proto %q client %q server %q", r.Proto, r.Client, r.Server)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, NewRecord(&ff[tt.index].flow, &ff[tt.index].verdict))
		})
	}
}

func TestNewRecordNilVerdictAndLocalTime(t *testing.T) {
	loc := time.FixedZone("UTC+2", 2*3600)
	f := capture.Flow{Proto: capture.ProtoUDP, Client: ap("192.0.2.1:5000"), Server: ap("192.0.2.2:53"),
		First: time.Date(2024, 1, 1, 12, 0, 0, 5, loc), Last: time.Date(2024, 1, 1, 12, 0, 1, 0, loc), State: capture.S0}
	r := NewRecord(&f, nil)
	if r.First.Location() != time.UTC || r.First.Hour() != 10 {
		t.Errorf("first %v not converted to UTC", r.First)
	}
	if r.PortClass != "" || r.Service != "" || len(r.Flags) != 0 || r.Flags == nil {
		t.Errorf("nil verdict gave class %q service %q flags %#v", r.PortClass, r.Service, r.Flags)
	}
	line := string(r.AppendJSON(nil, false))
	if !strings.Contains(line, `"first":"2024-01-01T10:00:00.000000005Z"`) {
		t.Errorf("time not written with nine digits in UTC: %s", line)
	}
}

// TestRecordRoundTrip: json.Unmarshal of what the appender wrote gives the same Record,
// for every fixture record and for NDJSON lines (which add schema_version).
func TestRecordRoundTrip(t *testing.T) {
	recs := fixtureRecords()
	// A record with hostile but valid UTF-8 strings round-trips too.
	hostile := recs[0]
	hostile.Input = "a\"b\\c\x00\x1b[2J\r\n\t\u2028\u2029é"
	hostile.Service = "</script><b>"
	recs = append(recs, hostile)
	for i, r := range recs {
		for _, schema := range []bool{false, true} {
			b := r.AppendJSON(nil, schema)
			var got Record
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("record %d: unmarshal %s: %v", i, b, err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("record %d (schema %v) does not round-trip:\n got %+v\nwant %+v\njson %s", i, schema, got, r, b)
			}
		}
		m, err := json.Marshal(r) // through MarshalJSON
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := json.Unmarshal(m, &got); err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("record %d: json.Marshal round trip: %v\n%s", i, err, m)
		}
	}
}

// TestRecordAppenderMatchesTags keeps the hand-written appender and the struct tags in
// agreement: the appender writes exactly the fields encoding/json would (same names,
// same order), with equal values once times are parsed.
func TestRecordAppenderMatchesTags(t *testing.T) {
	type plain Record // no MarshalJSON: encoding/json uses the tags
	for i, r := range fixtureRecords() {
		ours := r.AppendJSON(nil, false)
		theirs, err := json.Marshal(plain(r))
		if err != nil {
			t.Fatal(err)
		}
		ok, ek := jsonKeys(t, ours), jsonKeys(t, theirs)
		// encoding/json drops icmp_type/icmp_code when zero (omitempty); the appender keeps
		// them for ICMP flows. Everything else must match in name and order.
		if isICMP(r.Proto) {
			ek = slices.DeleteFunc(ek, func(k string) bool { return k == "icmp_type" || k == "icmp_code" })
			ek = insertAfter(ek, "tcp_flags_to_client", "icmp_type", "icmp_code")
		}
		if !reflect.DeepEqual(ok, ek) {
			t.Errorf("record %d: keys\n ours   %v\n encoding/json %v", i, ok, ek)
		}
		var a, b map[string]any
		_ = json.Unmarshal(ours, &a)
		_ = json.Unmarshal(theirs, &b)
		for k, v := range b {
			if k == "first" || k == "last" {
				ta, _ := time.Parse(time.RFC3339Nano, a[k].(string))
				tb, _ := time.Parse(time.RFC3339Nano, v.(string))
				if !ta.Equal(tb) {
					t.Errorf("record %d: %s %v vs %v", i, k, a[k], v)
				}
				continue
			}
			if !reflect.DeepEqual(a[k], v) {
				t.Errorf("record %d: %s = %v, encoding/json says %v", i, k, a[k], v)
			}
		}
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
	r := fixtureRecords()[0]
	r.Input = "bad\xffname"
	var got Record
	if err := json.Unmarshal(r.AppendJSON(nil, true), &got); err != nil {
		t.Fatal(err)
	}
	if got.Input != "bad\ufffdname" {
		t.Errorf("invalid UTF-8 decoded as %q, want U+FFFD replacement", got.Input)
	}
}

func TestHostPortOf(t *testing.T) {
	tests := []struct {
		proto, endpoint, host string
		port                  uint16
		ok                    bool
	}{
		{"tcp", "192.0.2.1:443", "192.0.2.1", 443, true},
		{"udp", "[2001:db8::1]:53", "2001:db8::1", 53, true},
		{"sctp", "[fe80::1%eth0]:2905", "fe80::1%eth0", 2905, true},
		{"icmp", "192.0.2.1", "192.0.2.1", 0, false},
		{"icmpv6", "2001:db8::1", "2001:db8::1", 0, false},
		{"ip-47", "198.51.100.1", "198.51.100.1", 0, false},
		{"tcp", "[2001:db8::1]", "2001:db8::1", 0, false},
		{"tcp", "192.0.2.1:99999", "192.0.2.1", 0, false},
		{"tcp", "", "", 0, false},
	}
	for _, tt := range tests {
		if h := HostOf(tt.proto, tt.endpoint); h != tt.host {
			t.Errorf("HostOf(%q, %q) = %q, want %q", tt.proto, tt.endpoint, h, tt.host)
		}
		if p, ok := PortOf(tt.proto, tt.endpoint); p != tt.port || ok != tt.ok {
			t.Errorf("PortOf(%q, %q) = %d, %v, want %d, %v", tt.proto, tt.endpoint, p, ok, tt.port, tt.ok)
		}
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
