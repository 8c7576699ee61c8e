// Package reports is the last stage of portclass's pipeline: it folds classified flows
// ([classify.Flow]: a capture.Flow with its verdict) and per-input statistics into a
// mergeable [Summary] with an [Aggregator], and writes summaries in each output format
// through one [Encoder] interface (text, JSON, NDJSON, CSV, Markdown, HTML, and for
// other tools Parquet and IPFIX). The flow record contract (record.go) is how a
// classified flow is written, and LoadSummary reads it back into the same values;
// Parquet's columns and IPFIX's elements carry the same fields (parquet.go, ipfix.go).
//
// It must not know how flows were built: it sees only classify.Flow and
// capture.InputStats values, never packets or flow tables. Only its encoders turn
// values into text.
//
// Decisions recorded here:
//   - Records are encoded to JSON by a hand-written appender (no reflection), because a
//     capture may hold millions of flows; decoding uses encoding/json into a raw record
//     whose every field is then checked (a saved summary is input like any other), and
//     a test keeps the two in agreement.
//   - Saved summaries are read as a stream (ReadSummary) behind a reader that bounds
//     strings, values and nesting as the bytes come (jsonGuard), because
//     encoding/json's Decoder holds a whole token or value before it looks at it; every
//     section is checked, not only the records, and the totals against the inputs and
//     the records (check.go).
//   - Summaries are merged exactly by rebuilding every breakdown from the flow records of
//     both sides, so a summary always carries all its records. The Merger takes them one
//     summary and one record at a time, so that a merge need not hold them.
//   - Every string that came from a capture or from configuration passes through one
//     escaper (reports/internal/termesc) before it reaches a terminal-oriented format;
//     the binary formats (Parquet, IPFIX) carry strings length-prefixed, made valid
//     UTF-8, and are refused on a terminal by the commands.
//   - IPFIX messages are built here (IPFIXWriter) but sent elsewhere: the package has
//     no sockets; pipeline.Exporter owns the transport to a collector.
package reports
