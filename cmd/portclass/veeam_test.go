package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// TestAnalyzeVeeam runs analyze on the project's generated Veeam capture (a backup
// server, two VMware proxies, a Linux repository, vCenter, ESXi, an admin PC, DNS,
// plus noise) and checks the hosts' roles and every flow's rules against the facts the
// generator declares; traffic no Veeam rule documents must stay unexplained.
func TestAnalyzeVeeam(t *testing.T) {
	t.Run("current versions", func(t *testing.T) { checkVeeam(t, nil, []string{"12", "13"}) })
	// An install upgraded from before v10 keeps the 2500-5000 transmission range.
	cfg := filepath.Join(t.TempDir(), "portclass.yaml")
	os.WriteFile(cfg, []byte("veeam:\n  versions: [\"12\", \"13\", \"pre-10-upgraded\"]\n"), 0o644)
	t.Run("pre-10 upgraded", func(t *testing.T) {
		checkVeeam(t, []string{"--config", cfg}, []string{"12", "13", "pre-10-upgraded"})
	})
}

func checkVeeam(t *testing.T, extra []string, versions []string) {
	m, err := veeam.DefaultMatrix().With(veeam.Options{Versions: versions})
	if err != nil {
		t.Fatal(err)
	}
	active := map[string]bool{}
	for _, r := range m.Rules() {
		active[r.ID] = true
	}
	args := append([]string{"analyze", "--quiet", "--format", "json", "--top", "0"}, extra...)
	code, out, errs := runCLI(t, append(args, testdata("veeam.pcap"))...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	s, err := reports.LoadSummary(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string][]string{}
	for _, h := range s.Hosts {
		for _, r := range h.Roles {
			hosts[h.Addr] = append(hosts[h.Addr], r.Role)
		}
	}
	for _, h := range synth.VeeamHosts() {
		for _, want := range h.Roles {
			if !slices.Contains(hosts[h.Addr.String()], want) {
				t.Errorf("host %s (%s): roles %v, want %s among them", h.Addr, h.Name, hosts[h.Addr.String()], want)
			}
		}
	}
	type key struct {
		proto          string
		client, server string
	}
	flows := map[key][]classify.Flow{}
	for _, f := range s.Flows {
		k := key{capture.ProtoName(f.Proto), f.Client.Addr().String(), f.Server.String()}
		flows[k] = append(flows[k], f)
	}
	for _, fact := range synth.VeeamFacts() {
		proto := map[uint8]string{6: "tcp", 17: "udp"}[fact.Proto]
		recs := flows[key{proto, fact.Client.String(), serverString(fact.Server)}]
		if len(recs) == 0 {
			t.Errorf("%s: no %s flow %s -> %s", fact.Meaning, proto, fact.Client, fact.Server)
			continue
		}
		for _, r := range recs {
			var got []string
			for _, m := range r.Veeam {
				got = append(got, m.ID())
			}
			var want []string
			for _, id := range fact.Rules {
				if active[id] {
					want = append(want, id)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s (%s -> %s): rules %v, want %v", fact.Meaning, r.Client, r.Server, got, want)
			}
			unexplained := r.Flags.Has(classify.FlagUnexplained)
			if len(want) > 0 && unexplained {
				t.Errorf("%s: documented Veeam flow flagged unexplained", fact.Meaning)
			}
			if len(want) == 0 && fact.Server.Port() >= 32768 && !unexplained {
				t.Errorf("%s: undocumented traffic to %v not flagged unexplained-ephemeral (flags %v)", fact.Meaning, fact.Server, r.Flags)
			}
		}
	}
}

func serverString(ap netip.AddrPort) string { return ap.String() }

// TestVeeamServiceNames: on the Veeam scenario the tables a reader sees first call the
// Veeam ports by their Veeam services in every format, and IANA's names stay in
// iana_service (records, CSV, server ports); no table calls 6162 "patrol-coll", 902
// "ideafarm-door" or 2500 "rtsserv".
func TestVeeamServiceNames(t *testing.T) {
	for _, format := range []string{"text", "md", "json", "ndjson", "csv", "html"} {
		t.Run(format, func(t *testing.T) {
			code, out, errs := runCLI(t, "analyze", "--quiet", "--format", format, testdata("veeam.pcap"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, want := range []string{"Veeam Data Mover", "Veeam Backup Service", "VMware NFC/VDDK data"} {
				if format != "ndjson" && format != "csv" && !strings.Contains(out, want) {
					t.Errorf("no %q", want)
				}
			}
			iana := []string{"patrol-coll", "ideafarm-door", "rtsserv", "kentrox-prot"}
			for _, name := range iana {
				switch format {
				case "text", "md", "html":
					if strings.Contains(out, name) {
						t.Errorf("%q in a table of the %s report", name, format)
					}
				default:
					if !strings.Contains(out, name) {
						t.Errorf("IANA's %q lost from the %s report", name, format)
					}
				}
			}
			switch format {
			case "json", "ndjson":
				if !strings.Contains(out, `"service":"Veeam Data Mover (Transport Service)"`) && !strings.Contains(out, `"service": "Veeam Data Mover (Transport Service)"`) {
					t.Error("no flow record or breakdown names 6162 by its Veeam service")
				}
				if !strings.Contains(out, `"iana_service":"patrol-coll"`) {
					t.Error(`no record has "iana_service":"patrol-coll"`)
				}
			case "csv":
				first, _, _ := strings.Cut(out, "\n")
				if !strings.Contains(first, ",end,iana_service") {
					t.Errorf("header %q lacks iana_service after end", first)
				}
				if !strings.Contains(out, ",Veeam Data Mover (Transport Service),") {
					t.Error("no CSV row names 6162 by its Veeam service")
				}
			}
		})
	}
}
