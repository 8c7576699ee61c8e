package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/portclass/portclass/classify"
)

// NDJSON writes the summary's flow records only, one JSON object per line, each with
// "schema_version" first; the other sections are not written. This is the format for
// loading flows into another tool. Encoding does not allocate per record.
type NDJSON struct{}

// Encode implements Encoder[*Summary].
func (NDJSON) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode ndjson: nil summary")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 1024)
	n := 0
	err := s.EachFlow(func(r *classify.Flow) error {
		n++
		buf = appendRecord(buf[:0], r, true)
		buf = append(buf, '\n')
		_, err := bw.Write(buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("encode ndjson: record %d: %w", n, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode ndjson: %w", err)
	}
	return nil
}
