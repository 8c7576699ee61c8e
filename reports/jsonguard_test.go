package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// readGuarded reads doc through a jsonGuard and returns what came out and the error.
func readGuarded(doc string) (string, error) {
	var out bytes.Buffer
	_, err := io.Copy(&out, newJSONGuard(strings.NewReader(doc)))
	return out.String(), err
}

// TestJSONGuardLimits: each limit is found, with the offset where the string, token,
// run or value starts and the field it is in; documents within the limits pass through
// unchanged, whatever the chunks they are read in.
func TestJSONGuardLimits(t *testing.T) {
	long := strings.Repeat("a", MaxSummaryString+1)
	deep := strings.Repeat("[", MaxSummaryDepth+1)
	bigRecord := `{"input":"` + strings.Repeat("b", MaxSummaryString-10) + `"`
	for len(bigRecord) <= MaxSummaryValue {
		bigRecord += `,"x":"` + strings.Repeat("b", MaxSummaryString-10) + `"`
	}
	bigRecord += "}"
	for _, tt := range []struct {
		name, doc, field string
		offset           int64
		msg              string
	}{
		{"string", `{"inputs":[{"path":"p","warnings":["w","` + long + `"]}]}`, "inputs[0].warnings[1]", 39, "a string longer than 65536 bytes"},
		{"escaped string", `{"generator":"` + strings.Repeat(`\"`, MaxSummaryString/2+1) + `"}`, "generator", 13, "a string longer than"},
		{"key", `{"totals":{"` + long + `":1}}`, "totals.(a key)", 11, "a string longer than"},
		{"number", `{"top":` + strings.Repeat("1", 65) + `}`, "top", 7, "a number or literal longer than 64 bytes"},
		{"white space", `{"top":` + strings.Repeat(" ", MaxSummaryString+1) + `1}`, "top", 7, "more than 65536 bytes of white space"},
		{"nesting", `{"x":` + deep, "x" + strings.Repeat("[0]", MaxSummaryDepth-1), int64(5 + MaxSummaryDepth - 1), "nested deeper than 32"},
		{"record", `{"schema_version":1,"flows":[{},` + bigRecord + `]}`, "flows[1]", 32, "a value longer than 1048576 bytes"},
		{"totals", `{"totals":` + bigRecord + `}`, "totals", 10, "a value longer than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readGuarded(tt.doc)
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("err %v, want a *LimitError", err)
			}
			if le.Offset != tt.offset || le.Field != tt.field || !strings.Contains(le.Msg, tt.msg) {
				t.Errorf("got offset %d, field %q, %q; want %d, %q, %q", le.Offset, le.Field, le.Msg, tt.offset, tt.field, tt.msg)
			}
		})
	}

	// Within the limits: unchanged, including the array of records (not one value) and
	// strings with escapes at chunk boundaries.
	var doc strings.Builder
	doc.WriteString(`{"schema_version":1,"generator":"a\"b\\c","flows":[`)
	for i := range 3000 {
		if i > 0 {
			doc.WriteString(",")
		}
		doc.WriteString(`{"proto":"tcp","input":"` + strings.Repeat(`x\"`, i%300) + `","flags":[],"n":12345}`)
	}
	doc.WriteString("]}\n")
	got, err := readGuarded(doc.String())
	if err != nil || got != doc.String() {
		t.Fatalf("a document within the limits: err %v, %d of %d bytes", err, len(got), doc.Len())
	}
	one := iotestOneByte(newJSONGuard(strings.NewReader(doc.String())))
	if b, err := io.ReadAll(one); err != nil || string(b) != doc.String() {
		t.Errorf("read a byte at a time: err %v", err)
	}
}

// iotestOneByte reads one byte at a time from r (testing/iotest.OneByteReader, here
// on the reader whose chunks matter, the guard's source).
func iotestOneByte(r *jsonGuard) io.Reader {
	r.r = oneByte{r.r}
	return r
}

type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// endless is a JSON document that opens a string and never closes it.
type endless struct{ served int64 }

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, `{"schema_version":1,"inputs":[{"path":"`)
	if e.served > 0 {
		n = 0
	}
	for i := n; i < len(p); i++ {
		p[i] = 'a'
	}
	e.served += int64(len(p))
	return len(p), nil
}

// TestLoadSummaryStopsAtLongString: a string that never ends is refused once it passes
// the limit, having read little more than the limit: the loader never holds it.
func TestLoadSummaryStopsAtLongString(t *testing.T) {
	src := &endless{}
	_, err := LoadSummary(src)
	var le *LimitError
	if !errors.As(err, &le) || le.Field != "inputs[0].path" || le.Offset != 38 {
		t.Fatalf("err %v, want the limit of inputs[0].path at offset 38", err)
	}
	if src.served > MaxSummaryString+1<<20 {
		t.Errorf("read %d bytes of a string to refuse it, want little more than %d", src.served, MaxSummaryString)
	}
}

// FuzzJSONGuard: the guard never panics, passes what it accepts through unchanged, and
// accepts every valid JSON document smaller than its limits and not nested too deep.
func FuzzJSONGuard(f *testing.F) {
	f.Add(`{"schema_version":1,"flows":[{"a":"b\"c"},{"d":[1,2,{"e":null}]}]}`)
	f.Add(`{"x":"\`)
	f.Add(`[[[[{"a":[{"b":"c"}]}]]]]`)
	f.Add(`}}]]{"a":1}`)
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := readGuarded(doc)
		if err == nil && got != doc {
			t.Fatalf("changed the document: %q became %q", doc, got)
		}
		var le *LimitError
		if err != nil && (!errors.As(err, &le) || le.Offset < 0 || le.Offset > int64(len(doc))) {
			t.Fatalf("error %v", err)
		}
		if err != nil && json.Valid([]byte(doc)) && len(doc) < MaxSummaryString {
			if depth, number := shapeOf(doc); depth < MaxSummaryDepth && number <= maxSummaryToken {
				t.Fatalf("refused a small valid document: %v", err)
			}
		}
	})
}

// shapeOf is the deepest nesting of a valid JSON document and its longest number.
func shapeOf(doc string) (deepest, number int) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest, number
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				depth++
				deepest = max(deepest, depth)
			} else {
				depth--
			}
		case json.Number:
			number = max(number, len(tok))
		}
	}
}
