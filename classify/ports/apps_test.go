package ports

import (
	"strconv"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/internal/corpus"
)

// TestAppPortsDocumented checks that docs/protocols.md ("Protocol mismatch") lists
// exactly the table's ports, with the same service and protocols.
func TestAppPortsDocumented(t *testing.T) {
	doc := corpus.DocSection(t, "protocols.md", "Protocol mismatch")
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
