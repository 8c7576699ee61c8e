// Package pipeline runs portclass's stages one after another, capture → flows →
// classify → reports, for the commands: it expands and checks the inputs, reads them
// through the capture stage into a spool, infers the hosts' Veeam roles from all flows,
// classifies every flow once the roles are known, and folds the classified flows into
// a summary (Run.Summary) or hands them to a verifier or learner (Run.Flows). A live
// capture's intervals are folded into reports and Prometheus metrics here too
// (Session). Saved summaries are read back here for merge and diff as streams, their
// records read again from the files rather than held (Merge, Side).
//
// It is a plain Go API that tests drive without a command line: options come as
// values (Options), the logger is passed in, errors are returned. It owns no flag,
// no configuration file, no signal and no exit code: those are cmd/portclass's.
package pipeline
