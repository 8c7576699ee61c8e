package ports

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/internal/corpus"
)

// TestAppPortsDocumented checks that docs/protocols.md ("Protocol mismatch") lists
// exactly the table's ports, with the same service and protocols.
func TestAppPortsDocumented(t *testing.T) {
	md, err := os.ReadFile(filepath.Join(corpus.Root(t), "docs", "protocols.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(md)
	start := strings.Index(doc, "\n## Protocol mismatch\n")
	if start < 0 {
		t.Fatal(`docs/protocols.md has no "## Protocol mismatch" section`)
	}
	doc = doc[start+1:]
	if end := strings.Index(doc[1:], "\n## "); end >= 0 {
		doc = doc[:end+1]
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| tcp/") || strings.HasPrefix(line, "| udp/") {
			cells := strings.Split(line, "|")
			rows[strings.TrimSpace(cells[1])+" "+strings.TrimSpace(cells[2])+" "+strings.TrimSpace(cells[3])] = true
		}
	}
	for _, e := range AppPorts() {
		apps := e.Apps.String()
		if e.Apps == 0 {
			apps = "nothing of the vocabulary"
		}
		k := capture.ProtoName(e.Proto) + "/" + strconv.Itoa(int(e.Port)) + " " + e.Service + " " + apps
		if !rows[k] {
			t.Errorf("docs/protocols.md does not list %q", k)
		}
		delete(rows, k)
	}
	for k := range rows {
		t.Errorf("docs/protocols.md lists %q, which the table does not have", k)
	}
}
