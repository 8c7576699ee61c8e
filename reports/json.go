package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/portclass/portclass/classify"
)

// JSON writes the whole summary as indented JSON, one flow record per line inside
// "flows". Read it back with LoadSummary.
//
// Everything but the flows goes through encoding/json; the flows, which may number in
// the millions, are appended by the record appender (which is why Summary.Flows must
// stay its last field). Strings are escaped as JSON requires and, in addition, DEL, C1
// controls and bidi formatting characters are written as \uNNNN, so the document is
// safe to print on a terminal.
type JSON struct{}

// Encode implements Encoder[*Summary].
func (JSON) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode json: nil summary")
	}
	head := *s
	head.Flows = nil
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&head); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	b := jsonTerminalSafe(bytes.TrimRight(buf.Bytes(), "\n"))
	if !bytes.HasSuffix(b, []byte("\n}")) { // cannot happen: schema_version is always there
		return errors.New("encode json: unexpected summary encoding")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.Write(b[:len(b)-2])
	_, _ = bw.WriteString(",\n  \"flows\": [")
	rec := make([]byte, 0, 1024)
	n := 0
	err := s.EachFlow(func(r *classify.Flow) error {
		rec = rec[:0]
		if n > 0 {
			rec = append(rec, ',')
		}
		n++
		rec = append(rec, "\n    "...)
		rec = appendRecord(rec, r, false)
		_, err := bw.Write(rec)
		return err
	})
	if err != nil {
		return fmt.Errorf("encode json: flow record %d: %w", n, err)
	}
	if n > 0 {
		_, _ = bw.WriteString("\n  ")
	}
	_, _ = bw.WriteString("]\n}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return nil
}
