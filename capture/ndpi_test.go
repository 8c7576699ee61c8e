package capture

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/internal/corpus"
)

// ndpiNames maps the protocol names ndpiReader (nDPI 4.2) gives to the names of the
// vocabulary they may stand for (docs/protocols.md, "nDPI's names"). nDPI names a flow
// "master.application" ("TLS.Google", "PostgreSQL.HTTP" for HTTP on PostgreSQL's port):
// the last part of the vocabulary decides.
var ndpiNames = map[string][]appid.Protocol{
	"TLS": {appid.TLS}, "SSH": {appid.SSH}, "HTTP": {appid.HTTP}, "HTTP_Proxy": {appid.HTTP},
	"DNS": {appid.DNS}, "MDNS": {appid.DNS}, "LLMNR": {appid.DNS},
	"SMBv1": {appid.SMB}, "SMBv23": {appid.SMB}, "NetBIOS": {appid.NetBIOSSSN, appid.NetBIOSNS},
	"RDP": {appid.RDP}, "Kerberos": {appid.Kerberos}, "LDAP": {appid.LDAP}, "DCE_RPC": {appid.DCERPC},
	"NTP": {appid.NTP}, "SNMP": {appid.SNMP}, "Syslog": {appid.Syslog}, "DHCP": {appid.DHCP}, "DHCPV6": {appid.DHCPv6},
	"QUIC": {appid.QUIC}, "PostgreSQL": {appid.PostgreSQL}, "MsSQL-TDS": {appid.MSSQL}, "MySQL": {appid.MySQL},
	"SMTP": {appid.SMTP}, "SMTPS": {appid.SMTP, appid.TLS}, "FTP_CONTROL": {appid.FTP},
	"IMAP": {appid.IMAP}, "IMAPS": {appid.IMAP, appid.TLS}, "POP3": {appid.POP3}, "POPS": {appid.POP3, appid.TLS},
	"Redis": {appid.Redis}, "NFS": {appid.NFS, appid.Mountd, appid.Portmap},
}

// ndpiVocabulary returns the vocabulary names an nDPI protocol name stands for, nil
// when it names none.
func ndpiVocabulary(name string) []appid.Protocol {
	parts := strings.Split(name, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		if ps, ok := ndpiNames[parts[i]]; ok {
			return ps
		}
	}
	return nil
}

// ndpiExplained are the flows on which the flow table and ndpiReader name different
// protocols of the vocabulary, each explained in docs/protocols.md ("Agreement with
// nDPI"): capture, server, appid's name, nDPI's.
var ndpiExplained = map[[4]string]string{
	// a fuzzed capture: NetBIOS name queries whose encoded names hold letters outside
	// A-P, which appid does not take for NetBIOS names (so the DNS format decides)
	// and nDPI takes for NetBIOS on port 137
	{"ndpi/fuzz-2006-06-26-2594.pcap", "192.168.1.255:137", "dns", "NetBIOS"}: "corrupted NetBIOS names",
	{"ndpi/fuzz-2006-06-26-2594.pcap", "192.168.1.112:137", "dns", "NetBIOS"}: "corrupted NetBIOS names",
}

// TestNDPIAgreement recomputes the agreement between the flow table's application
// identification and ndpiReader (DPI only, -d: no guess by port) on the shared
// corpus: of the TCP and UDP flows both name a protocol of the vocabulary, at least
// 95% must agree, and every disagreement must be one docs/protocols.md explains. It
// skips when ndpiReader (Debian libndpi-bin) or the corpus is absent.
func TestNDPIAgreement(t *testing.T) {
	reader, err := exec.LookPath("ndpiReader")
	if err != nil {
		t.Skip("ndpiReader not installed (Debian: apt-get install libndpi-bin)")
	}
	dir, entries := corpus.Manifest(t)
	tmp := t.TempDir()
	var total, agree int
	for _, e := range entries {
		if e.Unreadable() {
			continue
		}
		path := filepath.Join(dir, e.Path)
		nd, err := ndpiFlows(reader, path, tmp)
		if err != nil {
			t.Logf("%s: ndpiReader: %v (skipped)", e.Path, err)
			continue
		}
		_, err = Run(context.Background(), []string{path}, Options{Workers: 1}, func(f *Flow) {
			if f.App == appid.Unknown || (f.Proto != ProtoTCP && f.Proto != ProtoUDP) {
				return
			}
			name, ok := nd[ndpiKey(f.Proto, f.Client, f.Server)]
			if !ok {
				return
			}
			ps := ndpiVocabulary(name)
			if ps == nil {
				return
			}
			total++
			for _, p := range ps {
				if p == f.App {
					agree++
					return
				}
			}
			k := [4]string{e.Path, f.Server.String(), f.App.String(), name}
			if why, ok := ndpiExplained[k]; ok {
				t.Logf("disagreement (%s): %s %v → %v: %s, nDPI %s", why, e.Path, f.Client, f.Server, f.App, name)
			} else {
				t.Errorf("disagreement not explained in docs/protocols.md: %s %v → %v: %s, nDPI %s", e.Path, f.Client, f.Server, f.App, name)
			}
		})
		if err != nil {
			t.Logf("%s: %v", e.Path, err)
		}
	}
	if total < 400 {
		t.Fatalf("only %d flows named by both: the corpus or ndpiReader's output is not what this test expects", total)
	}
	share := float64(agree) / float64(total)
	t.Logf("agreement with ndpiReader: %d of %d flows (%.1f%%)", agree, total, 100*share)
	if share < 0.95 {
		t.Errorf("agreement %.1f%%, want at least 95%%", 100*share)
	}
}

// ndpiKey identifies a flow whatever its direction.
func ndpiKey(proto uint8, a, b netip.AddrPort) [3]string {
	x, y := a.String(), b.String()
	if y < x {
		x, y = y, x
	}
	return [3]string{ProtoName(proto), x, y}
}

// ndpiFlows runs ndpiReader on the capture at path (decompressed into tmp first when
// gzip-compressed) and returns the protocol name of each TCP and UDP flow, the first
// when it names several flows of one 5-tuple.
func ndpiFlows(reader, path, tmp string) (map[[3]string]string, error) {
	in := path
	if strings.HasSuffix(path, ".gz") {
		in = filepath.Join(tmp, "capture")
		if err := gunzip(path, in); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(tmp, "flows.csv")
	os.Remove(out)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, reader, "-d", "-q", "-i", in, "-C", out).CombinedOutput(); err != nil {
		return nil, errors.New(strings.TrimSpace(string(b)) + ": " + err.Error())
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	flows := map[[3]string]string{}
	for _, row := range rows[min(1, len(rows)):] { // the header first
		if len(row) < 11 {
			continue
		}
		var proto uint8
		switch row[1] {
		case "6":
			proto = ProtoTCP
		case "17":
			proto = ProtoUDP
		default:
			continue
		}
		a, errA := ndpiEndpoint(row[5], row[6])
		b, errB := ndpiEndpoint(row[7], row[8])
		if errA != nil || errB != nil {
			continue
		}
		if k := ndpiKey(proto, a, b); flows[k] == "" {
			flows[k] = row[10]
		}
	}
	return flows, nil
}

func ndpiEndpoint(addr, port string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.ParseAddrPort(netip.AddrPortFrom(a.Unmap(), 0).Addr().String() + ":" + port)
}

func gunzip(from, to string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	w, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, z); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
