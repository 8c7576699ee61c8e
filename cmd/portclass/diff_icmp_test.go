package main

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/reports"
)

// writeCapture writes packets, in order, as an Ethernet pcap at path.
func writeCapture(t *testing.T, path string, packets []synth.Packet) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	pw, err := synth.NewPcapWriter(w, synth.PcapOptions{LinkType: synth.LinkEthernet})
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for _, p := range packets {
		buf = p.Frame(synth.LinkEthernet, buf)
		if err := pw.WritePacket(p.Time, buf, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
}

// smbPair writes the two sides of a firewall change on SMB: before, 192.0.2.10 opens
// TCP 445 on 192.0.2.21 and is answered; after, the firewall 192.0.2.1 answers each
// SYN (and its retransmission) with ICMP "communication administratively prohibited"
// (3/13). Both days have the same DNS exchange, which does not change.
func smbPair(t *testing.T, dir string) (before, after string) {
	client, server, dns := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.21"), netip.MustParseAddr("192.0.2.53")
	firewall := netip.MustParseAddr("192.0.2.1")
	day := func(start time.Time, smb func(at func(ms int) time.Time) []synth.Packet) []synth.Packet {
		at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
		q := synth.Packet{Time: at(0), Src: client, Dst: dns, Proto: synth.ProtoUDP, SrcPort: 40000, DstPort: 53, PayloadLen: 40}
		r := synth.Packet{Time: at(1), Src: dns, Dst: client, Proto: synth.ProtoUDP, SrcPort: 53, DstPort: 40000, PayloadLen: 90}
		return append([]synth.Packet{q, r}, smb(at)...)
	}
	tcp := func(t time.Time, src, dst netip.Addr, sport, dport uint16, flags uint8, payload int) synth.Packet {
		return synth.Packet{Time: t, Src: src, Dst: dst, Proto: synth.ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: flags, PayloadLen: payload}
	}
	answered := day(synth.BaseTime(), func(at func(int) time.Time) []synth.Packet {
		c, s := client, server
		return []synth.Packet{
			tcp(at(10), c, s, 50001, 445, synth.SYN, 0),
			tcp(at(11), s, c, 445, 50001, synth.SYN|synth.ACK, 0),
			tcp(at(12), c, s, 50001, 445, synth.ACK, 0),
			tcp(at(13), c, s, 50001, 445, synth.PSH|synth.ACK, 200),
			tcp(at(14), s, c, 445, 50001, synth.PSH|synth.ACK, 900),
			tcp(at(15), c, s, 50001, 445, synth.FIN|synth.ACK, 0),
			tcp(at(16), s, c, 445, 50001, synth.FIN|synth.ACK, 0),
			tcp(at(17), c, s, 50001, 445, synth.ACK, 0),
		}
	})
	prohibited := day(synth.BaseTime().Add(24*time.Hour), func(at func(int) time.Time) []synth.Packet {
		var ps []synth.Packet
		for i, ms := range []int{10, 1010} { // the SYN and its retransmission
			syn := tcp(at(ms), client, server, 50002, 445, synth.SYN, 0)
			icmp := synth.Packet{Time: at(ms + 1), Src: firewall, Dst: client, Proto: synth.ProtoICMP,
				ICMPType: synth.ICMPUnreachable, ICMPCode: 13, IPID: uint32(i), Quote: &syn}
			ps = append(ps, syn, icmp)
		}
		return ps
	})
	before, after = filepath.Join(dir, "before.pcap"), filepath.Join(dir, "after.pcap")
	writeCapture(t, before, answered)
	writeCapture(t, after, prohibited)
	return before, after
}

// TestDiffICMPErrorsOnQuotedFlow: when a firewall starts answering SMB with ICMP
// "administratively prohibited", diff reports the SMB conversation as blocked, with
// the ICMP errors on it, and the firewall's ICMP messages are not a conversation of
// their own: nothing is "new", so --fail-on new passes and the default --fail-on fails
// on the blocked port alone. As verify does, the side counts the ICMP error flows.
func TestDiffICMPErrorsOnQuotedFlow(t *testing.T) {
	before, after := smbPair(t, t.TempDir())

	code, out, errs := runBinary(t, "", "diff", "--quiet", "--format", "json", before, after)
	if code != exitFindings {
		t.Fatalf("default --fail-on: exit %d, want %d: %s", code, exitFindings, errs)
	}
	d := loadDiff(t, out)
	if d.Counts.Differences != 1 || d.Counts.Blocked != 1 || d.Counts.New != 0 || d.Counts.Same != 1 {
		t.Errorf("counts %+v, want 1 blocked, 1 same and nothing new", d.Counts)
	}
	for _, e := range d.Entries {
		if e.Proto != "tcp" || e.Port != 445 {
			t.Errorf("a conversation other than SMB differs: %s %s → %s/%d %s", e.Proto, e.Client, e.Server, e.Port, e.Change)
			continue
		}
		if e.Change != reports.ChangeBlocked || e.Before == nil || e.Before.Reach != reports.ReachEstablished ||
			e.After == nil || e.After.Reach != reports.ReachICMP {
			t.Errorf("tcp/445: %s, before %+v, after %+v; want blocked, established → icmp-blocked", e.Change, e.Before, e.After)
			continue
		}
		want := reports.ICMPError{Type: 3, Code: 13, From: "192.0.2.1", Count: 2}
		if len(e.After.ICMPErrors) != 1 || e.After.ICMPErrors[0] != want {
			t.Errorf("tcp/445 after: ICMP errors %+v, want %+v", e.After.ICMPErrors, want)
		}
	}
	if d.After.ICMPErrorFlows != 1 || d.After.Conversations != 2 || d.Before.ICMPErrorFlows != 0 {
		t.Errorf("sides: before %+v, after %+v; want the after side's one ICMP error flow counted apart from its 2 conversations", d.Before, d.After)
	}

	for _, tt := range []struct {
		failOn string
		code   int
	}{{"new", exitOK}, {"new,gone,opened,changed", exitOK}, {"blocked", exitFindings}} {
		if code, _, errs := runBinary(t, "", "diff", "--quiet", "--format", "json", "--fail-on", tt.failOn, before, after); code != tt.code {
			t.Errorf("--fail-on %s: exit %d, want %d: %s", tt.failOn, code, tt.code, errs)
		}
	}

	code, out, errs = runBinary(t, "", "diff", "--quiet", "--format", "text", before, after)
	for _, want := range []string{
		"Differences: 1 conversation: 1 blocked\n",
		"! tcp/445 192.0.2.10 → 192.0.2.21: blocked, was SF ×1, now S0 ×1, icmp 3/13 from 192.0.2.1 ×2\n",
		"1 flow of ICMP errors, shown on the flows they quote",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text (exit %d %s) lacks %q:\n%s", code, errs, want, out)
		}
	}
	if strings.Contains(out, "  icmp ") {
		t.Errorf("text lists an ICMP conversation:\n%s", out)
	}
}
