package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/reports"
)

// ErrNoRecords is the reason a summary cannot be merged or diffed.
var ErrNoRecords = errors.New("summary written without its flow records (--no-flows)")

// LoadSummaryFile reads the JSON summary at path ("-": stdin) and checks that it carries
// all its flow records. Errors name the file; a capture given by mistake is recognised
// and named as such.
func LoadSummaryFile(path string, stdin io.Reader) (*reports.Summary, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s: a directory, not a JSON summary", path)
		}
		r = f
	}
	if r == nil {
		r = bytes.NewReader(nil)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if !looksLikeJSON(br) {
		if path != "-" && capture.Check([]string{path}) == nil {
			return nil, fmt.Errorf("%s: a capture, not a JSON summary: analyze it first (portclass analyze -o report.json %s)", path, path)
		}
	}
	s, err := reports.LoadSummary(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Totals.Flows != uint64(len(s.Flows)) {
		return nil, fmt.Errorf("%s: %w: it counts %d flows but carries %d flow records; rerun analyze without --no-flows",
			path, ErrNoRecords, s.Totals.Flows, len(s.Flows))
	}
	return s, nil
}

// looksLikeJSON reports whether the buffered input starts with "{" after white space,
// without consuming it.
func looksLikeJSON(br *bufio.Reader) bool {
	head, _ := br.Peek(512)
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '{'
}

// Merge reads the summaries at paths ("-": Options.Stdin, once) and merges them exactly
// (reports.MergeAll) with the pipeline's report options. It warns about a file given
// twice and about an input in two summaries: their flows are counted twice.
func (p *Pipeline) Merge(paths []string) (*reports.Summary, error) {
	if i := slices.Index(paths, "-"); i >= 0 && slices.Contains(paths[i+1:], "-") {
		return nil, errors.New(`"-" given twice: standard input holds one summary`)
	}
	ss := make([]*reports.Summary, len(paths))
	for i, path := range paths {
		s, err := LoadSummaryFile(path, p.opts.Stdin)
		if err != nil {
			return nil, err
		}
		ss[i] = s
	}
	for i, s := range ss {
		if s.Interrupted { // the merge is as incomplete: say which file made it so
			s.InterruptedReason = paths[i] + ": " + s.InterruptedReason
			p.log.Warn().Str("file", paths[i]).Msg("the report of an interrupted run: the merge is incomplete too")
		}
	}
	same := p.warnRepeatedFiles(paths)
	p.warnDuplicateInputs(paths, ss, same)
	start := time.Now()
	m, err := reports.MergeAll(p.reportOptions(), ss...)
	if err != nil {
		return nil, err // cannot happen: every summary was checked above
	}
	p.log.Info().Int("summaries", len(ss)).Int("inputs", m.Totals.Inputs).Uint64("flows", m.Totals.Flows).
		Str("took", LogDuration(time.Since(start))).Msg("summaries merged")
	return m, nil
}

// warnRepeatedFiles logs every summary file given more than once (by the same name, or
// another name of the same file: a link): its flows are counted once per time it is
// given. It returns, for each path, the index of the first argument naming the same
// file.
func (p *Pipeline) warnRepeatedFiles(paths []string) []int {
	first := make([]int, len(paths))
	infos := make([]os.FileInfo, len(paths))
	for i, path := range paths {
		first[i] = i
		if path != "-" {
			infos[i], _ = os.Stat(path)
		}
		for j := range i {
			if path == paths[j] || (infos[i] != nil && infos[j] != nil && os.SameFile(infos[i], infos[j])) {
				first[i] = j
				p.log.Warn().Str("file", path).Str("and", paths[j]).Int("argument", i+1).
					Msg("the same summary given twice: its flows are counted twice")
				break
			}
		}
	}
	return first
}

// warnDuplicateInputs logs the inputs that appear in more than one summary: their flows
// would be counted once per summary. Summaries that are one file given twice (first,
// from warnRepeatedFiles) were warned about already.
func (p *Pipeline) warnDuplicateInputs(paths []string, ss []*reports.Summary, first []int) {
	type key struct {
		path    string
		size    int64
		packets uint64
		first   time.Time
	}
	seen := map[key]int{}
	for i, s := range ss {
		if first[i] != i {
			continue
		}
		for _, in := range s.Inputs {
			k := key{in.Path, in.Size, in.Packets, in.First.Time}
			if prev, ok := seen[k]; ok && prev != i {
				p.log.Warn().Str("input", in.Path).Str("in", paths[prev]).Str("and", paths[i]).
					Msg("the same input is in two summaries: its flows are counted twice")
			}
			seen[k] = i
		}
	}
}

// Side is one side of a diff: a saved summary, or captures to analyse.
type Side struct {
	Arg     string           // as given
	Summary *reports.Summary // a JSON summary, else nil
	Inputs  Inputs           // the captures otherwise
}

// Kind is "summary" or "capture".
func (s *Side) Kind() string {
	if s.Summary != nil {
		return "summary"
	}
	return "capture"
}

// Side tells a JSON summary from captures by content and loads or checks it. Standard
// input ("-") is peeked at and, when it is a capture, read by the run.
func (p *Pipeline) Side(arg string) (*Side, error) {
	side := &Side{Arg: arg}
	isJSON := false
	if arg == "-" {
		br := bufio.NewReaderSize(p.stdin(), 64<<10)
		p.opts.Stdin = br
		isJSON = looksLikeJSON(br)
	} else if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		f, err := os.Open(arg)
		if err != nil {
			return nil, err
		}
		isJSON = looksLikeJSON(bufio.NewReader(f))
		f.Close()
	}
	if !isJSON {
		in, err := p.Inputs([]string{arg})
		if err != nil {
			return nil, err
		}
		side.Inputs = in
		return side, nil
	}
	if p.opts.Filter != "" {
		return nil, fmt.Errorf("--filter applies to captures, and %s is a JSON summary", arg)
	}
	s, err := LoadSummaryFile(arg, p.opts.Stdin)
	if err != nil {
		return nil, err
	}
	side.Summary = s
	return side, nil
}

func (p *Pipeline) stdin() io.Reader {
	if p.opts.Stdin == nil {
		return bytes.NewReader(nil)
	}
	return p.opts.Stdin
}

// Diff compares the conversations of two sides (reports.Compare), analysing the sides
// that are captures. An interrupted read gives no diff (half a capture would mislead):
// the error then wraps context.Canceled.
func (p *Pipeline) Diff(ctx context.Context, before, after *Side, o reports.DiffOptions) (*reports.Diff, error) {
	sides := []*Side{before, after}
	summaries := make([]*reports.Summary, 2)
	for i, side := range sides {
		if side.Summary != nil {
			summaries[i] = side.Summary
			continue
		}
		r, err := p.Read(ctx, side.Inputs)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if r.Err() != nil {
			return nil, fmt.Errorf("interrupted while reading %s: no diff of a partial capture: %w", side.Arg, r.Err())
		}
		if summaries[i], err = r.Summary(); err != nil {
			return nil, err
		}
	}
	d, err := reports.Compare(summaries[0], summaries[1], o)
	if err != nil {
		return nil, err
	}
	for i, src := range []*reports.DiffSource{&d.Before, &d.After} {
		src.Source, src.Kind = sides[i].Arg, sides[i].Kind()
		if src.Source == "-" {
			src.Source = "standard input"
		}
	}
	return d, nil
}
