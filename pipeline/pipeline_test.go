package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/synth"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/policy"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/internal/corpus"
	"github.com/portclass/portclass/reports"
)

// read is New, Inputs and Read on the project's capture name, with o.
func read(t *testing.T, o Options, name ...string) (*Pipeline, *Run) {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, n := range name {
		args = append(args, corpus.Testdata(t, n))
	}
	in, err := p.Inputs(args)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Read(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return p, r
}

// TestPipelineAnalyze drives the pipeline as analyze does, without a command line, on
// the generated Veeam capture: every flow of the generator is there, classified with
// the Veeam rules of its facts once the roles are inferred, and the summary counts the
// flows the run yields, in report order.
func TestPipelineAnalyze(t *testing.T) {
	for _, workers := range []int{1, 0} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			p, r := read(t, Options{Workers: workers}, "veeam.pcap")
			active := map[string]bool{}
			for _, rule := range p.Matrix().Rules() {
				active[rule.ID] = true
			}
			if r.Err() != nil {
				t.Fatal(r.Err())
			}
			type key struct {
				proto          uint8
				client, server string
			}
			rules := map[key][]string{}
			var flows []classify.Flow
			if err := r.Flows(func(f *classify.Flow) error {
				var ids []string
				for _, m := range f.Veeam {
					ids = append(ids, m.ID())
				}
				rules[key{f.Proto, f.Client.Addr().String(), f.Server.String()}] = ids
				flows = append(flows, *f)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.IsSortedFunc(flows, func(a, b classify.Flow) int { return capture.CompareFlows(&a.Flow, &b.Flow) }) {
				t.Error("flows are not in report order")
			}
			for _, fact := range synth.VeeamFacts() {
				got, ok := rules[key{fact.Proto, fact.Client.String(), fact.Server.String()}]
				if !ok {
					t.Errorf("%s: no flow %v → %v", fact.Meaning, fact.Client, fact.Server)
					continue
				}
				var want []string
				for _, id := range fact.Rules {
					if active[id] {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s: rules %v, want %v", fact.Meaning, got, want)
				}
			}
			s, err := r.Summary()
			if err != nil {
				t.Fatal(err)
			}
			if s.Totals.Flows != uint64(len(flows)) || len(s.Hosts) == 0 {
				t.Errorf("summary: %d flows (run: %d), %d hosts", s.Totals.Flows, len(flows), len(s.Hosts))
			}
			n := 0
			if err := s.EachFlow(func(f *classify.Flow) error {
				if f.Outcome != capture.OutcomeOf(&f.Flow) {
					t.Errorf("flow %d: outcome %v, the flow's is %v", n, f.Outcome, capture.OutcomeOf(&f.Flow))
				}
				n++
				return nil
			}); err != nil || n != len(flows) {
				t.Errorf("the summary yields %d flow records (%v), the run %d", n, err, len(flows))
			}
		})
	}
}

// TestPipelineVerifyAndLearn checks the firewall scenario against its policy through
// the pipeline, then learns a policy from the same capture, against which the capture
// passes.
func TestPipelineVerifyAndLearn(t *testing.T) {
	data, err := os.ReadFile(corpus.Testdata(t, "veeam-firewall.policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("veeam-firewall.policy.yaml", data, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(PolicyOptions(Options{}, pol))
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Inputs([]string{corpus.Testdata(t, "veeam-firewall.pcap")})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Verify(context.Background(), in, pol, policy.FailDefault)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Findings; rep.Result != "fail" || f.Blocked != 4 || f.Forbidden != 1 || f.Undocumented != 5 {
		t.Errorf("verify: %s, findings %+v", rep.Result, f)
	}

	l, err := p.Learn(context.Background(), in, policy.LearnOptions{MinConfidence: 0.5, MaxClients: 16})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	learned, err := policy.Load("learned.yaml", b.Bytes(), policy.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if !strings.Contains(b.String(), "veeam-firewall.pcap") {
		t.Errorf("the learned policy does not name its capture:\n%s", b.String())
	}
	lp, err := New(PolicyOptions(Options{}, learned))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = lp.Verify(context.Background(), in, learned, policy.FailBlocked|policy.FailForbidden|policy.FailUndocumented)
	if err != nil {
		t.Fatal(err)
	}
	// What worked is documented now; only attempts nothing answered stay undocumented.
	if rep.Findings.Forbidden != 0 {
		t.Errorf("against its learned policy: findings %+v", rep.Findings)
	}
	for _, g := range rep.Undocumented {
		if g.Outcome == "ok" {
			t.Errorf("against its learned policy: undocumented traffic that worked: %+v", g)
		}
	}
}

// TestPipelineMergeAndDiff: the summaries of two captures merge into the summary of
// both read at once, and a diff of a capture with its own saved summary finds nothing.
func TestPipelineMergeAndDiff(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, files ...string) string {
		_, r := read(t, Options{Top: 0}, files...)
		s, err := r.Summary()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		var b bytes.Buffer
		if err := (reports.JSON{}).Encode(&b, s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a, b := save("a.json", "veeam.pcap"), save("b.json", "sample.pcapng")
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Merge([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	both, err := LoadSummaryFile(save("both.json", "veeam.pcap", "sample.pcapng"), nil)
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	if err := m.EachFlow(func(*classify.Flow) error { records++; return nil }); err != nil {
		t.Fatal(err)
	}
	if m.Totals.Flows != both.Totals.Flows || m.Totals.Packets != both.Totals.Packets || records != len(both.Flows) {
		t.Errorf("merged %+v with %d records, read at once %+v", m.Totals, records, both.Totals)
	}
	if _, err := p.Merge([]string{a, "-", "-"}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("stdin twice: %v", err)
	}

	before, err := p.Side(corpus.Testdata(t, "veeam.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := p.Side(a)
	if err != nil {
		t.Fatal(err)
	}
	if before.Kind() != "capture" || after.Kind() != "summary" {
		t.Fatalf("sides %s, %s", before.Kind(), after.Kind())
	}
	d, err := p.Diff(context.Background(), before, after, reports.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Counts.Differences != 0 || d.Counts.Same == 0 {
		t.Errorf("a capture against its own summary: %+v", d.Counts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Diff(ctx, before, after, reports.DiffOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted diff: %v, want context.Canceled", err)
	}
}

// TestPipelineErrors: bad options and inputs are refused before anything is read.
func TestPipelineErrors(t *testing.T) {
	for _, o := range []Options{
		{Filter: "tcp port"},
		{Inventory: map[string][]string{"no-such-role": {"192.0.2.1"}}},
		{Services: []ports.UserService{{Name: "x", Proto: "icmp", Ports: "1"}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Inputs([]string{corpus.Testdata(t, "veeam-firewall.policy.yaml")}); err == nil {
		t.Error("a policy file named as input was accepted")
	}
	in, err := p.Inputs([]string{corpus.Testdata(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Skipped) == 0 || len(in.Files) < 4 {
		t.Errorf("testdata/: %d files, %d skipped", len(in.Files), len(in.Skipped))
	}
}

// TestPipelineConcurrentRecords: a summary's flow records may be read by two
// goroutines at once (analyze's IPFIX export reads them beside the report), from
// memory and from spilled runs alike, and both get every record in report order.
func TestPipelineConcurrentRecords(t *testing.T) {
	for _, spill := range []int{0, 50} {
		t.Run(fmt.Sprintf("spill-after=%d", spill), func(t *testing.T) {
			_, r := read(t, Options{Workers: 0, SpillAfter: spill, TempDir: t.TempDir()}, "veeam.pcap", "sample.pcapng")
			s, err := r.Summary()
			if err != nil {
				t.Fatal(err)
			}
			collect := func() ([]classify.Flow, error) {
				var out []classify.Flow
				err := s.EachFlow(func(f *classify.Flow) error { out = append(out, *f); return nil })
				return out, err
			}
			want, err := collect()
			if err != nil || len(want) < 100 {
				t.Fatalf("%d records, %v", len(want), err)
			}
			type result struct {
				flows []classify.Flow
				err   error
			}
			done := make(chan result, 2)
			for range 2 {
				go func() {
					f, err := collect()
					done <- result{f, err}
				}()
			}
			for range 2 {
				got := <-done
				if got.err != nil || len(got.flows) != len(want) {
					t.Fatalf("concurrent read: %d records (%v), want %d", len(got.flows), got.err, len(want))
				}
				for i := range want {
					if fmt.Sprint(got.flows[i]) != fmt.Sprint(want[i]) {
						t.Fatalf("concurrent read: record %d differs", i)
					}
				}
			}
			if spill > 0 && !r.spool.Spilled() {
				t.Error("the run did not spill")
			}
		})
	}
}

// TestPipelineSummaryAnd: the pass of SummaryAnd yields the records Flows yields, in the
// same order, and makes the summary Summary makes; a Parquet file written in it
// (reports.FlowEncoder, as analyze writes one) is byte for byte the file written from
// the summary afterwards. On one core and on two, in memory and from spilled runs; an
// error of the callback ends the pass with that error.
func TestPipelineSummaryAnd(t *testing.T) {
	for _, o := range []Options{{Workers: 1}, {Workers: 0}, {Workers: 0, SpillAfter: 50}} {
		t.Run(fmt.Sprintf("workers=%d,spill-after=%d", o.Workers, o.SpillAfter), func(t *testing.T) {
			o.TempDir = t.TempDir()
			_, r := read(t, o, "veeam.pcap", "sample.pcapng", "tunnels.pcap")
			want, err := r.Summary()
			if err != nil {
				t.Fatal(err)
			}
			var wantFlows []string
			if err := r.Flows(func(f *classify.Flow) error { wantFlows = append(wantFlows, fmt.Sprint(*f)); return nil }); err != nil {
				t.Fatal(err)
			}
			var got []string
			s, err := r.SummaryAnd(func(f *classify.Flow) error { got = append(got, fmt.Sprint(*f)); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(wantFlows) < 100 || !slices.Equal(got, wantFlows) {
				t.Errorf("%d records in the pass, %d from Flows, or not the same", len(got), len(wantFlows))
			}
			var a, b bytes.Buffer
			if err := (reports.JSON{}).Encode(&a, want); err != nil {
				t.Fatal(err)
			}
			if err := (reports.JSON{}).Encode(&b, s); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("the summary of SummaryAnd is not Summary's")
			}
			enc := reports.Parquet{Serial: o.Workers == 1, RowGroup: 100}
			var after, in bytes.Buffer
			if err := enc.Encode(&after, want); err != nil {
				t.Fatal(err)
			}
			if err := enc.EncodeFlows(&in, func(yield func(*classify.Flow) error) error {
				_, err := r.SummaryAnd(yield)
				return err
			}, false); err != nil {
				t.Fatal(err)
			}
			if after.Len() == 0 || !bytes.Equal(after.Bytes(), in.Bytes()) {
				t.Errorf("Parquet written in the pass: %d bytes; from the summary: %d, or not the same", in.Len(), after.Len())
			}
			boom := errors.New("boom")
			n := 0
			if _, err := r.SummaryAnd(func(*classify.Flow) error {
				if n++; n == 60 {
					return boom
				}
				return nil
			}); !errors.Is(err, boom) || n != 60 {
				t.Errorf("callback failing at record 60: error %v after %d records", err, n)
			}
		})
	}
}
