package reports

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/internal/ipfixread"
)

const testPEN = 99999 // not assigned to portclass: tests only

// ipfixMessages writes recs with o and returns the messages, checked by the reader.
func ipfixMessages(t *testing.T, o IPFIXOptions, recs []classify.Flow) ([]ipfixread.Message, *ipfixread.Stream) {
	t.Helper()
	var raw [][]byte
	var counts []int
	w := NewIPFIXWriter(o, func(msg []byte, n int) error {
		raw = append(raw, bytes.Clone(msg))
		counts = append(counts, n)
		return nil
	})
	for i := range recs {
		if err := w.Add(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	st := ipfixread.NewStream()
	var msgs []ipfixread.Message
	size := o.MessageSize
	if size == 0 {
		size = DefaultIPFIXMessageSize
	}
	for i, b := range raw {
		if len(b) > size {
			t.Errorf("message %d: %d bytes, more than %d", i, len(b), size)
		}
		m, err := st.Decode(b)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(m.Records) != counts[i] {
			t.Errorf("message %d: emit said %d records, it holds %d", i, counts[i], len(m.Records))
		}
		msgs = append(msgs, m)
	}
	if got := w.Records(); got != uint64(len(recs)) {
		t.Errorf("Records() = %d, want %d", got, len(recs))
	}
	return msgs, st
}

func allRecords(msgs []ipfixread.Message) []ipfixread.Record {
	var out []ipfixread.Record
	for _, m := range msgs {
		out = append(out, m.Records...)
	}
	return out
}

// TestIPFIXRecords writes the fixture's flows and reads every element back: one
// biflow record per flow record, each value the record's.
func TestIPFIXRecords(t *testing.T) {
	recs := fixtureRecords()
	msgs, _ := ipfixMessages(t, IPFIXOptions{PEN: testPEN}, recs)
	got := allRecords(msgs)
	if len(got) != len(recs) {
		t.Fatalf("%d records, want %d", len(got), len(recs))
	}
	if len(msgs[0].Templates) != 2 || msgs[0].Templates[0] != 256 || msgs[0].Templates[1] != 257 {
		t.Errorf("first message defines templates %v, want [256 257]", msgs[0].Templates)
	}
	for i := range recs {
		f, r := &recs[i], got[i]
		name := fmt.Sprintf("record %d (%s %s→%s)", i, capture.ProtoName(f.Proto), f.Client, f.Server)
		v6 := f.Client.Addr().Is6()
		src, dst, icmp := "8", "12", "32"
		wantT := uint16(256)
		if v6 {
			src, dst, icmp, wantT = "27", "28", "139", 257
		}
		if r.Template != wantT {
			t.Errorf("%s: template %d, want %d", name, r.Template, wantT)
		}
		if a, _ := netip.AddrFromSlice(r.Values[src]); a != f.Client.Addr() {
			t.Errorf("%s: source %v, want the client %v", name, a, f.Client.Addr())
		}
		if a, _ := netip.AddrFromSlice(r.Values[dst]); a != f.Server.Addr() {
			t.Errorf("%s: destination %v, want the server %v", name, a, f.Server.Addr())
		}
		wantICMP := uint64(0)
		if isICMP(f.Proto) {
			wantICMP = uint64(f.ICMPType)<<8 | uint64(f.ICMPCode)
		}
		check := func(key string, want uint64) {
			t.Helper()
			if g := r.Uint(key); g != want {
				t.Errorf("%s: element %s = %d, want %d", name, key, g, want)
			}
		}
		check("7", uint64(f.Client.Port()))
		check("11", uint64(f.Server.Port()))
		check("4", uint64(f.Proto))
		check(icmp, wantICMP)
		check("58", uint64(f.VLAN))
		check("152", uint64(f.First.UnixMilli()))
		check("153", uint64(f.Last.UnixMilli()))
		check("1", f.Flow.Bytes[0])
		check("2", f.Flow.Packets[0])
		check("29305/1", f.Flow.Bytes[1])
		check("29305/2", f.Flow.Packets[1])
		check("6", uint64(tcpBits(f, 0)))
		check("29305/6", uint64(tcpBits(f, 1)))
		check("136", uint64(flowEndReason(f.End)))
		dir := uint64(0)
		if f.Direction.Confident() {
			dir = 1
		}
		check("239", dir)
		ids := make([]string, len(f.Veeam))
		for j, m := range f.Veeam {
			ids[j] = m.ID()
		}
		for key, want := range map[string]string{
			"99999/1": f.PortClass.String(), "99999/2": f.State.String(), "99999/3": strings.Join(ids, ","),
			"99999/4": strings.Join(f.Flags.Names(), ","), "99999/5": f.Service, "99999/6": f.Direction.String(),
			"99999/7": f.Outcome.String(),
		} {
			if g := r.String(key); g != want {
				t.Errorf("%s: element %s = %q, want %q", name, key, g, want)
			}
		}
	}
}

// TestIPFIXNoPEN: without a PEN, no enterprise element but RFC 5103's reverse ones.
func TestIPFIXNoPEN(t *testing.T) {
	_, st := ipfixMessages(t, IPFIXOptions{}, fixtureRecords())
	for _, id := range []uint16{256, 257} {
		fs := st.Template(DefaultIPFIXDomain, id)
		if len(fs) != 17 {
			t.Errorf("template %d: %d fields, want 17", id, len(fs))
		}
		for _, f := range fs {
			if f.PEN != 0 && f.PEN != ReversePEN {
				t.Errorf("template %d: field %s under a PEN nobody configured", id, f.Key())
			}
		}
	}
}

// TestIPFIXMessageSize fills many messages: each stays within the bound, sequence
// numbers count the records (the reader checks), and a record whose strings cannot fit
// has them cut at a rune boundary instead of overflowing the message.
func TestIPFIXMessageSize(t *testing.T) {
	base := fixtureRecords()
	var recs []classify.Flow
	for i := range 500 {
		recs = append(recs, base[i%len(base)])
	}
	long := base[0]
	long.Service = strings.Repeat("é", 400) // 800 bytes of 2-byte runes
	var all []veeam.Match
	for _, r := range veeam.DefaultMatrix().Rules() {
		if m, ok := veeam.MatchOf(r.ID); ok && len(all) < 40 {
			all = append(all, m)
		}
	}
	long.Veeam = all
	recs = append(recs, long)
	for _, size := range []int{MinIPFIXMessageSize, 1000, DefaultIPFIXMessageSize, 65535} {
		msgs, _ := ipfixMessages(t, IPFIXOptions{PEN: testPEN, MessageSize: size}, recs)
		got := allRecords(msgs)
		if len(got) != len(recs) {
			t.Fatalf("size %d: %d records, want %d", size, len(got), len(recs))
		}
		last := got[len(got)-1]
		svc := last.String("99999/5")
		if !strings.HasPrefix(long.Service, svc) || strings.ContainsRune(svc, '\uFFFD') {
			t.Errorf("size %d: service cut to %q, not a rune-aligned prefix", size, svc)
		}
		if size == 65535 && svc != long.Service {
			t.Errorf("size 65535: service cut (%d bytes) though it fits", len(svc))
		}
		if size < 65535 && len(svc) == len(long.Service) {
			t.Errorf("size %d: an 800-byte service was not cut", size)
		}
		// The numbers stay right whatever is cut.
		if last.Uint("1") != long.Flow.Bytes[0] || last.Uint("29305/2") != long.Flow.Packets[1] {
			t.Errorf("size %d: counts of the long record changed", size)
		}
	}
}

// TestIPFIXInvalidUTF8: strings from the wire that are not UTF-8 become U+FFFD.
func TestIPFIXInvalidUTF8(t *testing.T) {
	r := fixtureRecords()[0]
	r.Service = "a\xff\xfeb"
	msgs, _ := ipfixMessages(t, IPFIXOptions{PEN: testPEN}, []classify.Flow{r})
	if got := allRecords(msgs)[0].String("99999/5"); got != "a\uFFFDb" {
		t.Errorf("service %q, want %q", got, "a\uFFFDb")
	}
}

// TestIPFIXTemplateRefresh: templates in the first message, then again every
// TemplateEvery messages and once TemplateInterval has passed; ResendTemplates forces
// them into the next message.
func TestIPFIXTemplateRefresh(t *testing.T) {
	base := fixtureRecords()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var withT []bool
	w := NewIPFIXWriter(IPFIXOptions{TemplateEvery: 3, TemplateInterval: time.Minute, Now: clock}, func(msg []byte, _ int) error {
		m, err := ipfixread.NewStream().Decode(bytes.Clone(msg))
		withT = append(withT, err == nil && len(m.Templates) > 0)
		return nil
	})
	send := func() { // one message of one record
		t.Helper()
		if err := w.Add(&base[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for range 7 {
		send()
	}
	now = now.Add(61 * time.Second)
	send() // interval passed
	send()
	w.ResendTemplates()
	send()
	want := []bool{true, false, false, true, false, false, true, true, false, true}
	if fmt.Sprint(withT) != fmt.Sprint(want) {
		// A message without templates fails to decode on a fresh stream: false.
		t.Errorf("templates in messages %v, want %v", withT, want)
	}
}

// TestIPFIXAppNameHook: with AppName set, a flow with a name goes with templates 258
// (IPv4) and 259 (IPv6), which add applicationName (96); flows without one keep 256
// and 257. Without the hook (the commands today) those templates are never sent.
func TestIPFIXAppNameHook(t *testing.T) {
	recs := fixtureRecords()
	app := func(f *classify.Flow) string {
		if f.Service == "ldap" || f.Proto == capture.ProtoICMPv6 || f.Service == "domain" {
			return "APP-" + f.Service
		}
		return ""
	}
	msgs, st := ipfixMessages(t, IPFIXOptions{AppName: app}, recs)
	if fmt.Sprint(msgs[0].Templates) != "[256 257 258 259]" {
		t.Errorf("templates %v, want [256 257 258 259]", msgs[0].Templates)
	}
	if fs := st.Template(DefaultIPFIXDomain, 259); len(fs) != 18 || fs[17].ID != 96 {
		t.Errorf("template 259: %v, want 18 fields ending with applicationName (96)", fs)
	}
	named := 0
	for i, r := range allRecords(msgs) {
		name := app(&recs[i])
		if name == "" {
			if r.Template > 257 {
				t.Errorf("record %d: template %d without a name", i, r.Template)
			}
			continue
		}
		named++
		if r.Template < 258 || r.String("96") != name {
			t.Errorf("record %d: template %d, applicationName %q, want %q", i, r.Template, r.String("96"), name)
		}
	}
	if named == 0 {
		t.Fatal("the fixture has no flow the test's AppName names")
	}
	msgs, _ = ipfixMessages(t, IPFIXOptions{}, recs)
	if fmt.Sprint(msgs[0].Templates) != "[256 257]" {
		t.Errorf("without AppName: templates %v, want [256 257]", msgs[0].Templates)
	}
}

// TestIPFIXFile: the file format is the messages one after another, templates once,
// export time the end of the capture (so the same capture gives the same bytes), and
// a summary without flows still holds the templates.
func TestIPFIXFile(t *testing.T) {
	s := fixtureSummary(0)
	var buf bytes.Buffer
	if err := (IPFIX{PEN: testPEN}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	parts, err := ipfixread.Split(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	st := ipfixread.NewStream()
	n := 0
	end := uint32(s.Totals.Last.Time.Add(time.Second - 1).Unix())
	for i, p := range parts {
		m, err := st.Decode(p)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i > 0 && len(m.Templates) > 0 {
			t.Errorf("message %d repeats the templates: a file needs them once", i)
		}
		if m.ExportTime != end {
			t.Errorf("message %d: export time %d, want the end of the capture %d", i, m.ExportTime, end)
		}
		n += len(m.Records)
	}
	if n != len(s.Flows) {
		t.Errorf("%d records, want %d", n, len(s.Flows))
	}
	var empty bytes.Buffer
	if err := (IPFIX{}).Encode(&empty, NewAggregator(Options{}).Summary()); err != nil {
		t.Fatal(err)
	}
	m, err := ipfixread.NewStream().Decode(empty.Bytes())
	if err != nil || len(m.Templates) != 2 || len(m.Records) != 0 {
		t.Errorf("empty summary: %+v, %v; want one message of the two templates", m, err)
	}
	if err := (IPFIX{MessageSize: 100}).Encode(&empty, s); err == nil {
		t.Error("a 100-byte message size was accepted")
	}
}
