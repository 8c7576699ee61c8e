// Package reports is the last stage of portclass's pipeline: it turns finished flow
// records (a [capture.Flow] with the [classify.Verdict] classify gave it) into the
// flow record contract ([Record]), folds records and per-input statistics into a
// mergeable [Summary] with an [Aggregator], and writes summaries in each output format
// through one [Encoder] interface (text, JSON, NDJSON, CSV, Markdown).
//
// It must not know how flows were built: it sees only capture.Flow, capture.InputStats
// and classify.Verdict values, never packets, flow tables or the Veeam matrix.
//
// Decisions recorded here:
//   - Records are encoded to JSON by a hand-written appender (no reflection), because a
//     capture may hold millions of flows; decoding uses encoding/json and the struct tags,
//     and a test keeps the two in agreement.
//   - Summaries are merged exactly by rebuilding every breakdown from the flow records of
//     both sides, so a summary always carries all its records.
//   - Every string that came from a capture or from configuration passes through one
//     escaper (reports/internal/termesc) before it reaches a terminal-oriented format.
package reports
