package reports

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEncoderFor(t *testing.T) {
	for _, name := range []string{"text", "json", "ndjson", "csv", "md", "html"} {
		if _, err := EncoderFor[*Summary](name); err != nil {
			t.Errorf("EncoderFor[*Summary](%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "HTML", "JSON", "yaml", "txt"} {
		_, err := EncoderFor[*Summary](name)
		if !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("EncoderFor[*Summary](%q) error %v, want ErrUnknownFormat", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "valid: csv, html, ipfix, json, md, ndjson, parquet, text") {
			t.Errorf("EncoderFor[*Summary](%q) error %q does not list the formats", name, err)
		}
	}
	// One registry: each kind of report has its formats, and a format of another kind
	// is refused with this kind's list.
	for _, tt := range []struct {
		got  []string
		want string
	}{
		{FormatsFor[*Summary](), "csv html ipfix json md ndjson parquet text"},
		{FormatsFor[*VerifyReport](), "json md text"},
		{FormatsFor[*Diff](), "csv json md ndjson text"},
		{FormatsFor[*FirewallRules](), "ip6tables iptables nftables windows-firewall"},
		{FormatsFor[*PortsReport](), "json text"},
	} {
		if got := strings.Join(tt.got, " "); got != tt.want {
			t.Errorf("formats %q, want %q", got, tt.want)
		}
	}
	if _, err := EncoderFor[*VerifyReport]("csv"); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "for verify (valid: json, md, text)") {
		t.Errorf("csv for verify: %v", err)
	}
	if _, err := EncoderFor[*FirewallRules]("json"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("json for firewall rules: %v", err)
	}
}

func TestFormatFromPath(t *testing.T) {
	tests := []struct {
		path, format string
		ok           bool
	}{
		{"out/report.json", "json", true},
		{"flows.ndjson", "ndjson", true},
		{"flows.JSONL", "ndjson", true},
		{"flows.csv", "csv", true},
		{"report.md", "md", true},
		{"report.markdown", "md", true},
		{"report.txt", "text", true},
		{"report", "", false},
		{"report.html", "html", true},
		{"report.HTM", "html", true},
		{"report.xhtml", "", false},
		{"report.json.gz", "", false},
		{"flows.ipfix", "ipfix", true},
		{"flows.Parquet", "parquet", true},
		{"-", "", false},
		{"dir.json/report", "", false},
	}
	for _, tt := range tests {
		if f, ok := FormatFromPath(tt.path); f != tt.format || ok != tt.ok {
			t.Errorf("FormatFromPath(%q) = %q, %v, want %q, %v", tt.path, f, ok, tt.format, tt.ok)
		}
	}
}

func TestEncodersRejectNil(t *testing.T) {
	for _, name := range Formats() {
		enc, _ := EncoderFor[*Summary](name)
		if err := enc.Encode(&bytes.Buffer{}, nil); err == nil {
			t.Errorf("%s: no error for a nil summary", name)
		}
	}
}

// TestEmptySummary: with no inputs and no flows every section says so in one line and
// the machine formats are still valid.
func TestEmptySummary(t *testing.T) {
	s := NewAggregator(Options{}).Summary()
	var buf bytes.Buffer
	if err := (Text{}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"  Time span:           no packets\n", "Inputs: No inputs.\n", "Veeam hosts: No Veeam hosts identified.\n",
		"Ephemeral-range traffic: No flow to an ephemeral or dynamic server port.\n"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("empty text report lacks %q:\n%s", line, buf.String())
		}
	}
	buf.Reset()
	if err := (NDJSON{}).Encode(&buf, s); err != nil || buf.Len() != 0 {
		t.Errorf("empty ndjson: %v %q", err, buf.String())
	}
	buf.Reset()
	if err := (CSV{}).Encode(&buf, s); err != nil || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("empty csv should be the header only: %v %q", err, buf.String())
	}
	buf.Reset()
	if err := (JSON{}).Encode(&buf, s); err != nil || !strings.HasSuffix(buf.String(), "\"flows\": []\n}\n") {
		t.Errorf("empty json: %v\n%s", err, buf.String())
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {1 << 62, "4.0 EiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
