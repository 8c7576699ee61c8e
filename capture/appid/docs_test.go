package appid

import (
	"os"
	"regexp"
	"testing"

	"github.com/portclass/portclass/internal/corpus"
)

// TestVocabularyDocumented checks that docs/protocols.md (its "Names" table) and the
// package documentation (doc.go's table) list every name of the vocabulary, and no
// other.
func TestVocabularyDocumented(t *testing.T) {
	names := corpus.DocSection(t, "protocols.md", "Names")
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct {
		file string
		re   *regexp.Regexp
		text string
	}{
		{"docs/protocols.md", regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|"), names},
		{"doc.go", regexp.MustCompile(`(?m)^//\t([a-z0-9-]+) +\S`), string(doc)},
	} {
		listed := map[string]bool{}
		for _, m := range src.re.FindAllStringSubmatch(src.text, -1) {
			if _, err := ParseProtocol(m[1]); err != nil || m[1] == "name" {
				if m[1] != "name" {
					t.Errorf("%s documents %q, which is not a name", src.file, m[1])
				}
				continue
			}
			listed[m[1]] = true
		}
		for _, p := range Protocols() {
			if !listed[p.String()] {
				t.Errorf("%s does not list %q", src.file, p)
			}
		}
	}
}
