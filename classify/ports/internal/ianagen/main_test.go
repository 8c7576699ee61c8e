package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// committedCSV is the registry copy the project keeps; generated is the file written from it.
const (
	committedCSV = "service-names-port-numbers.csv"
	generated    = "../../services_gen.go"
)

func TestGeneratedFileFresh(t *testing.T) {
	out := filepath.Join(t.TempDir(), "services_gen.go")
	if err := run([]string{"-in", committedCSV, "-out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stale generated file; run make generate (go generate ./classify/ports): classify/ports/services_gen.go differs from what ianagen writes from %s", committedCSV)
	}
	if !bytes.HasPrefix(got, []byte(header+"\n")) {
		t.Errorf("generated file does not start with %q", header)
	}
}

// TestReadmeChecksum keeps README.md's record of the committed CSV true.
func TestReadmeChecksum(t *testing.T) {
	data, err := os.ReadFile(committedCSV)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(data))
	if !bytes.Contains(readme, []byte(sum)) {
		t.Errorf("README.md does not mention the sha256 of %s, %s; update it with the file's source", committedCSV, sum)
	}
	if !bytes.Contains(readme, []byte(fmt.Sprintf("%d bytes", len(data)))) {
		t.Errorf("README.md does not give the size of %s, %d bytes", committedCSV, len(data))
	}
}

// small exercises the registry's quirks: a byte order mark, CRLF, quoted fields with
// commas, quotes and line breaks, unnamed rows, aliases, a range cut by an earlier
// row, rows without a protocol or a port, and non-ASCII text.
const small = "\uFEFFService Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\r\n" +
	",0,tcp,Reserved,,,,2024-12-20,[RFC6335],,,\r\n" +
	"echo,7,tcp,Echo,[Jon_Postel],[Jon_Postel],,,,,,\r\n" +
	"echo,7,udp,Echo,[Jon_Postel],[Jon_Postel],,,,,,\r\n" +
	",8,tcp,Unassigned,,,,,,,,\r\n" +
	"ssh,22,tcp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,\"Defined TXT keys: u=<username> p=<password>\"\r\n" +
	"whoispp,63,tcp,\"whois++\r\nIANA assigned this well-formed service name as a replacement for \"\"whois++\"\".\",,,,,,,,\r\n" +
	"whois++,63,tcp,\"whois++\",,,,,,,,\"This entry is an alias to \"\"whoispp\"\".\"\r\n" +
	"http,80,tcp,World Wide Web HTTP,,,,,,,,\"This is a duplicate, of the \"\"http\"\" service\"\r\n" +
	"www,80,tcp,World Wide Web HTTP,,,,,,,,\r\n" +
	"x11-pre,6005,tcp,\"Earlier, single\",,,2001-01-01,,,,,\r\n" +
	"x11,6000-6063,tcp,X Window System,[Stephen_Gildea],[Stephen_Gildea],,,,,Known Unauthorized Use on port 6003,\r\n" +
	"late,6010,tcp,Later single,,,2025-06-30,,,,,\r\n" +
	"active-net,3322-3325,,Active Networks,[Bob_Braden_2],[Bob_Braden_2],,,,,,\r\n" +
	"argus,,,ARGUS Protocol,,,,,,,,\r\n" +
	"ssh,22,sctp,SSH,[Randall_Stewart],[Randall_Stewart],,2022-02-07,[RFC9260],,,\r\n" +
	"discard,9,dccp,Discard,,,,,,,,\r\n" +
	"vision-mon,4413,TCP,FORTÉ   Vision\tMonitoring platform ,,,,,,,,\r\n" +
	"top,65535,udp,,,,,,,,,\r\n"

func TestParse(t *testing.T) {
	tb, err := parse([]byte(small), "small.csv")
	if err != nil {
		t.Fatal(err)
	}
	if tb.newest != "2025-06-30" {
		t.Errorf("newest date %q; want 2025-06-30", tb.newest)
	}
	want := map[string][]string{ // per protocol: "lo-hi name: desc"
		"tcp": {
			"7-7 echo: Echo",
			"22-22 ssh: The Secure Shell (SSH) Protocol",
			`63-63 whoispp: whois++ IANA assigned this well-formed service name as a replacement for "whois++".`,
			"80-80 http: World Wide Web HTTP",
			"4413-4413 vision-mon: FORTÉ Vision Monitoring platform",
			"6000-6004 x11: X Window System",
			"6005-6005 x11-pre: Earlier, single",
			"6006-6063 x11: X Window System",
		},
		"udp":  {"7-7 echo: Echo", "65535-65535 top: "},
		"sctp": {"22-22 ssh: SSH"},
		"dccp": {"9-9 discard: Discard"},
	}
	for p, pr := range protos {
		var got []string
		for _, e := range tb.entries[p] {
			r := tb.rows[e.row]
			got = append(got, fmt.Sprintf("%d-%d %s: %s", e.lo, e.hi, r.name, r.desc))
		}
		if strings.Join(got, "\n") != strings.Join(want[pr.name], "\n") {
			t.Errorf("%s entries:\n%s\nwant:\n%s", pr.name, strings.Join(got, "\n"), strings.Join(want[pr.name], "\n"))
		}
	}
	// The whoispp row starts on line 7 and spans two lines; the next row is on line 9.
	for _, r := range tb.rows {
		if r.name == "whoispp" && r.line != 7 || r.name == "whois++" && r.line != 9 {
			t.Errorf("row %s reported at line %d", r.name, r.line)
		}
	}
}

func TestRenderDeterministic(t *testing.T) {
	var outs [2][]byte
	for i := range outs {
		tb, err := parse([]byte(small), fmt.Sprintf("path%d/small.csv", i))
		if err != nil {
			t.Fatal(err)
		}
		if outs[i], err = render(tb); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two renders of the same CSV differ")
	}
	src := string(outs[0])
	for _, want := range []string{
		header + "\n",
		"var svcTCP = [8]svcEntry{",
		"var svcUDP = [2]svcEntry{",
		"var svcSCTP = [1]svcEntry{",
		"var svcDCCP = [1]svcEntry{",
		"{6006, 6063, ", // x11 after the cut
		"entries: tcp 8 udp 2 sctp 1 dccp 1.",
		"FORTÉ Vision Monitoring platform",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("rendered source lacks %q", want)
		}
	}
	// Each distinct string is stored once: "echo" and "Echo" serve tcp and udp.
	if n := strings.Count(src, "echoEcho"); n != 1 {
		t.Errorf("\"echoEcho\" appears %d times in svcText; want 1", n)
	}
}

func TestParseErrors(t *testing.T) {
	const hdr = "Service Name,Port Number,Transport Protocol,Description,Registration Date,Modification Date\r\n"
	tests := []struct {
		in, want string
	}{
		{"", "x.csv: header: EOF"},
		{"Service Name,Port Number,Description,Registration Date,Modification Date\r\n", `x.csv: header: no "Transport Protocol" column`},
		{hdr + "a,1,tcp,A,,\r\nb,2,icmp,B,,\r\n", `x.csv:3: transport protocol "icmp": not tcp, udp, sctp or dccp`},
		{hdr + "a,70000,tcp,A,,\r\n", `x.csv:2: port number: "70000": want a port 0-65535 or a range lo-hi`},
		{hdr + "a,10-5,tcp,A,,\r\n", `x.csv:2: port number: "10-5": range starts after it ends`},
		{hdr + "a,1-,tcp,A,,\r\n", `x.csv:2: port number: "1-"`},
		{hdr + "a,1,tcp,A,,\r\nb,2,tcp,\"B\r\n", `x.csv: parse error on line 3, column 12: extraneous or missing " in quoted-field`},
		{hdr + "a,1,tcp,A,,,\r\n", `x.csv: record on line 2: wrong number of fields`},
		{hdr + "a\xff,1,tcp,A,,\r\n", `x.csv:2: service "a\xff": invalid UTF-8`},
	}
	for _, tt := range tests {
		_, err := parse([]byte(tt.in), "x.csv")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse(%q) error = %v; want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestRunUsage(t *testing.T) {
	if err := run([]string{"-in", committedCSV}, io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("run without -out: %v; want a usage error", err)
	}
	out := filepath.Join(t.TempDir(), "x.go")
	if err := run([]string{"-in", "no-such.csv", "-out", out}, io.Discard); err == nil || !strings.Contains(err.Error(), "no-such.csv") {
		t.Errorf("run with a missing input: %v; want an error naming it", err)
	}
}
