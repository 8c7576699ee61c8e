package veeam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/internal/corpus"
)

// TestCorpusVeeam runs inference and explanation over the project's captures and the
// shared corpus (read in place, never copied) and lists what each capture gets: its
// flows, the flows on Veeam signature ports (Matrix.Signature), the flows a Veeam rule
// explains and the Veeam hosts with their roles. The list is pinned in
// testdata/corpus.golden (derived data; -update rewrites it). Whatever the list says,
// a capture without a flow on a signature port has no flow explained by a Veeam rule
// and no Veeam host: generic services (DNS, NTP, SQL Server, ...) are Veeam traffic
// only next to Veeam components.
func TestCorpusVeeam(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every capture of the corpus")
	}
	var paths []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "formats/*.pcap", "formats/*.pcapng"} {
		ms, _ := filepath.Glob(corpus.Testdata(t, pat))
		paths = append(paths, ms...)
	}
	// The project's captures, then the shared corpus, each in order: sorted as one list
	// of absolute paths, their order depended on the checkout's directory name.
	slices.Sort(paths)
	root := corpus.Root(t)
	if dir := filepath.Join(root, "..", "shared", "pcaps"); dirExists(dir) {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".tsv") && !strings.HasSuffix(p, ".md") {
				paths = append(paths, p)
			}
			return nil
		})
	} else {
		t.Log("shared corpus absent: the project's captures only")
	}
	m := DefaultMatrix()
	var b strings.Builder
	for _, p := range paths {
		var flows []*capture.Flow
		_, err := capture.Run(context.Background(), []string{p}, capture.Options{Workers: 1, ServerPort: ports.IsServicePort},
			func(f *capture.Flow) { c := *f; flows = append(flows, &c) })
		name, _ := filepath.Rel(root, p)
		name = filepath.ToSlash(name)
		if err != nil {
			fmt.Fprintf(&b, "%s: unreadable\n", name)
			continue
		}
		in := m.NewInferer(nil)
		for _, f := range flows {
			in.AddFlow(f)
		}
		signature, explained := 0, 0
		for _, f := range flows {
			if capture.HasPorts(f.Proto) && m.Signature(f.Proto, f.Server.Port()) {
				signature++
			}
			if len(in.Explain(f)) > 0 {
				explained++
			}
		}
		hosts := in.Hosts()
		fmt.Fprintf(&b, "%s: %d flows, %d on signature ports, %d Veeam, %d Veeam hosts\n", name, len(flows), signature, explained, len(hosts))
		for _, h := range hosts {
			var roles []string
			for _, r := range h.Roles {
				roles = append(roles, r.Role)
			}
			fmt.Fprintf(&b, "  %s %s\n", h.Addr, strings.Join(roles, ", "))
		}
		if signature == 0 && (explained > 0 || len(hosts) > 0) {
			t.Errorf("%s: no Veeam signature port, yet %d flows explained and %d Veeam hosts", name, explained, len(hosts))
		}
	}
	golden := filepath.Join("testdata", "corpus.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !dirExists(filepath.Join(root, "..", "shared", "pcaps")) {
		return // the golden list covers the corpus too
	}
	if got := b.String(); got != string(want) {
		t.Errorf("what the captures get differs from %s (rerun with -update and review):\n%s", golden, got)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
