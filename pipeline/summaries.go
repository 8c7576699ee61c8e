package pipeline

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// ErrNoRecords is the reason a summary cannot be merged or diffed.
var ErrNoRecords = errors.New("summary written without its flow records (--no-flows)")

// LoadSummaryFile reads the JSON summary at path ("-": stdin) with its flow records
// and checks that it carries them all. Errors name the file; a capture given by
// mistake is recognised and named as such.
func LoadSummaryFile(path string, stdin io.Reader) (*reports.Summary, error) {
	var flows []classify.Flow
	sf, err := openSummary(path, stdin, "", func(f *classify.Flow) error {
		flows = append(flows, *f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sf.Close()
	if flows != nil {
		sf.head.Flows = flows
	}
	return sf.head, nil
}

// savedSummary is a JSON summary given to merge or diff: read and checked once as a
// stream (reports.ReadSummary), its records handed on and not kept, then read again
// for its records when the report is written. The file stays open in between, so
// that a file renamed over it changes nothing, and one changed in place (its size or
// modification time) is refused; standard input is copied to an unlinked temporary
// file as it is read. Close it when done.
type savedSummary struct {
	path    string
	file    *os.File
	size    int64
	mtime   time.Time
	head    *reports.Summary // everything but the records
	records uint64
	sorted  bool            // the records are in report order (capture.CompareFlows), as portclass writes them
	flows   []classify.Flow // the records of a summary that is not, sorted (sortRecords)
}

// openSummary reads the summary at path ("-": stdin, copied to a temporary file in
// tempDir, "" for the system's) and calls each for every record. A summary that
// carries no records while its totals count some (--no-flows) is refused with
// ErrNoRecords; the loader refuses records that disagree with the totals. Errors name
// the file.
func openSummary(path string, stdin io.Reader, tempDir string, each func(*classify.Flow) error) (*savedSummary, error) {
	sf := &savedSummary{path: path, sorted: true}
	var r io.Reader
	if path == "-" {
		tmp, err := os.CreateTemp(tempDir, "portclass-stdin-*.json")
		if err != nil {
			return nil, fmt.Errorf("standard input: a temporary copy to read it twice: %w (see --temp-dir)", err)
		}
		os.Remove(tmp.Name()) // the open file is all that is needed
		sf.file = tmp
		if stdin == nil {
			stdin = bytes.NewReader(nil)
		}
		r = &teeReader{r: stdin, w: tmp}
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		sf.file = f
		st, err := f.Stat()
		if err == nil && st.IsDir() {
			f.Close()
			return nil, fmt.Errorf("%s: a directory, not a JSON summary", path)
		}
		r = f
	}
	fail := func(err error) (*savedSummary, error) {
		sf.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if !looksLikeJSON(br) {
		if path != "-" && capture.Check([]string{path}) == nil {
			return fail(fmt.Errorf("%s: a capture, not a JSON summary: analyze it first (portclass analyze -o report.json %s)", path, path))
		}
	}
	var prev classify.Flow
	s, err := reports.ReadSummary(br, func(f *classify.Flow) error {
		if sf.records > 0 && sf.sorted && capture.CompareFlows(&prev.Flow, &f.Flow) > 0 {
			sf.sorted = false
		}
		prev = *f
		sf.records++
		return each(f)
	})
	var te *teeError
	if errors.As(err, &te) {
		return fail(te.err)
	}
	if err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	if sf.records == 0 && s.Totals.Flows > 0 {
		return fail(fmt.Errorf("%s: %w: it counts %d flows but carries no flow records; rerun analyze without --no-flows",
			path, ErrNoRecords, s.Totals.Flows))
	}
	sf.head = s
	if sf.size, sf.mtime, err = sf.stat(); err != nil {
		return fail(err)
	}
	return sf, nil
}

// stat is the file's size and modification time.
func (sf *savedSummary) stat() (int64, time.Time, error) {
	st, err := sf.file.Stat()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%s: %w", sf.path, err)
	}
	return st.Size(), st.ModTime(), nil
}

// Close closes the file (and so removes the copy of standard input).
func (sf *savedSummary) Close() error {
	if sf == nil || sf.file == nil {
		return nil
	}
	err := sf.file.Close()
	sf.file = nil
	return err
}

// teeReader copies what it reads from r to w (a temporary file), as io.TeeReader
// does, and tells a failed copy from a failed read.
type teeReader struct {
	r io.Reader
	w io.Writer
}

// teeError is a copy of standard input that could not be written.
type teeError struct{ err error }

func (e *teeError) Error() string { return e.err.Error() }

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			return n, &teeError{fmt.Errorf("standard input: a temporary copy to read it twice: %w (see --temp-dir)", werr)}
		}
	}
	return n, err
}

// read reads the summary's file again from its start and calls each for every
// record; a file that changed since openSummary read it is an error.
func (sf *savedSummary) read(each func(*classify.Flow) error) error {
	size, mtime, err := sf.stat()
	if err != nil {
		return err
	}
	if size != sf.size || !mtime.Equal(sf.mtime) {
		return fmt.Errorf("%s: changed while it was being read (now %d bytes, was %d)", sf.path, size, sf.size)
	}
	n := uint64(0)
	_, err = reports.ReadSummary(bufio.NewReaderSize(io.NewSectionReader(sf.file, 0, sf.size), 16<<10), func(f *classify.Flow) error {
		n++
		return each(f)
	})
	if err != nil {
		if errors.Is(err, errStopped) {
			return err
		}
		return fmt.Errorf("%s: read again: %w", sf.path, err)
	}
	if n != sf.records {
		return fmt.Errorf("%s: changed while it was being read (%d flow records, was %d)", sf.path, n, sf.records)
	}
	return nil
}

// sortRecords reads the records of a summary that is not in report order into
// memory, in report order (a stable sort: equal records keep the file's order).
func (sf *savedSummary) sortRecords() error {
	flows := make([]classify.Flow, 0, sf.records)
	if err := sf.read(func(f *classify.Flow) error {
		flows = append(flows, *f)
		return nil
	}); err != nil {
		return err
	}
	slices.SortStableFunc(flows, func(x, y classify.Flow) int { return capture.CompareFlows(&x.Flow, &y.Flow) })
	sf.flows = flows
	return nil
}

// fileOrder yields the summary's records in the order of its file (diff needs no
// other).
func (sf *savedSummary) fileOrder() reports.FlowIter {
	return sf.read
}

// recordStream is one summary's records in report order, one at a time, for
// mergedRecords.
type recordStream struct {
	index int             // of the summary, which breaks ties
	cur   classify.Flow   // the current record
	flows []classify.Flow // the records sorted in memory, or nil
	pull  func() (*classify.Flow, bool)
	stop  func()
	err   error
}

func (sf *savedSummary) stream(index int) *recordStream {
	st := &recordStream{index: index}
	if !sf.sorted {
		st.flows = sf.flows
		return st
	}
	st.pull, st.stop = iter.Pull(func(yield func(*classify.Flow) bool) {
		err := sf.read(func(f *classify.Flow) error {
			if !yield(f) {
				return errStopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopped) {
			st.err = err
		}
	})
	return st
}

// next moves to the next record, and reports whether there is one.
func (st *recordStream) next() bool {
	if st.pull == nil {
		if len(st.flows) == 0 {
			return false
		}
		st.cur, st.flows = st.flows[0], st.flows[1:]
		return true
	}
	f, ok := st.pull()
	if ok {
		st.cur = *f
	}
	return ok
}

// streamHeap orders streams by their current record (report order), then by summary:
// records equal in report order come summary by summary, as a stable sort of all the
// summaries' records one after another has them (reports.MergeAll).
type streamHeap []*recordStream

func (h streamHeap) Len() int { return len(h) }
func (h streamHeap) Less(i, j int) bool {
	if c := capture.CompareFlows(&h[i].cur.Flow, &h[j].cur.Flow); c != 0 {
		return c < 0
	}
	return h[i].index < h[j].index
}
func (h streamHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)   { *h = append(*h, x.(*recordStream)) }
func (h *streamHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergedRecords yields the records of all the summaries in report order: a k-way
// merge of the summaries' records, read again from their files, holding one record
// of each summary at a time (and the records of those not in report order).
func mergedRecords(files []*savedSummary) reports.FlowIter {
	return func(yield func(*classify.Flow) error) error {
		h := make(streamHeap, 0, len(files))
		var streams []*recordStream
		defer func() {
			for _, st := range streams {
				if st.stop != nil {
					st.stop()
				}
			}
		}()
		for i, sf := range files {
			st := sf.stream(i)
			streams = append(streams, st)
			if st.next() {
				h = append(h, st)
			} else if st.err != nil {
				return st.err
			}
		}
		heap.Init(&h)
		for len(h) > 0 {
			st := h[0]
			if err := yield(&st.cur); err != nil {
				return err
			}
			if st.next() {
				heap.Fix(&h, 0)
				continue
			}
			if st.err != nil {
				return st.err
			}
			heap.Pop(&h)
		}
		return nil
	}
}

// looksLikeJSON reports whether the buffered input starts with "{" after white space,
// without consuming it.
func looksLikeJSON(br *bufio.Reader) bool {
	head, _ := br.Peek(512)
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '{'
}

// Merged is the result of Merge: the merged summary, whose flow records are read
// again from the summaries' files as the report is written. Close it when done.
type Merged struct {
	*reports.Summary
	files []*savedSummary
}

// Close closes the summaries' files.
func (m *Merged) Close() error {
	var errs []error
	for _, sf := range m.files {
		errs = append(errs, sf.Close())
	}
	return errors.Join(errs...)
}

// Merge reads the summaries at paths ("-": Options.Stdin, once) and merges them exactly
// (reports.Merger) with the pipeline's report options. It warns about a file given
// twice and about an input in two summaries: their flows are counted twice.
//
// It holds no flow record: each summary is read as a stream and its records are
// aggregated as they come; the merged summary's records are a merge of the
// summaries' records, read again from their files as the report is written (each in
// report order, as portclass writes them; a summary that is not is read again once
// and sorted in memory). A merge of a 150 MB summary peaked at 55 MB (530-560 MB
// when every record of every summary was held), for twice the CPU time.
func (p *Pipeline) Merge(paths []string) (*Merged, error) {
	if i := slices.Index(paths, "-"); i >= 0 && slices.Contains(paths[i+1:], "-") {
		return nil, errors.New(`"-" given twice: standard input holds one summary`)
	}
	start := time.Now()
	o := p.reportOptions()
	o.DiscardFlows = true
	merger := reports.NewMerger(o)
	m := &Merged{}
	heads := make([]*reports.Summary, 0, len(paths))
	for _, path := range paths {
		sf, err := openSummary(path, p.opts.Stdin, p.opts.TempDir, merger.Add)
		if err == nil {
			m.files = append(m.files, sf)
			if h := sf.head; h.Interrupted { // the merge is as incomplete: say which file made it so
				h.InterruptedReason = path + ": " + h.InterruptedReason
				p.log.Warn().Str("file", path).Msg("the report of an interrupted run: the merge is incomplete too")
			}
			if err = merger.AddSummary(sf.head); err != nil {
				err = fmt.Errorf("%s: %w", path, err)
			}
		}
		if err == nil && !sf.sorted {
			err = sf.sortRecords()
		}
		if err != nil {
			m.Close()
			return nil, err
		}
		heads = append(heads, sf.head)
	}
	same := p.warnRepeatedFiles(paths)
	p.warnDuplicateInputs(paths, heads, same)
	s, err := merger.Summary()
	if err != nil {
		m.Close()
		return nil, err
	}
	s.SetFlowIter(mergedRecords(m.files))
	m.Summary = s
	p.log.Info().Int("summaries", len(paths)).Int("inputs", s.Totals.Inputs).Uint64("flows", s.Totals.Flows).
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

// Side is one side of a diff: a saved summary, or captures to analyse. Close it when
// done.
type Side struct {
	Arg     string           // as given
	Summary *reports.Summary // a JSON summary, else nil; its records are read from its file
	Inputs  Inputs           // the captures otherwise

	saved *savedSummary
}

// Close closes the side's summary file, if any.
func (s *Side) Close() error { return s.saved.Close() }

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
	sf, err := openSummary(arg, p.opts.Stdin, p.opts.TempDir, func(*classify.Flow) error { return nil })
	if err != nil {
		return nil, err
	}
	side.saved, side.Summary = sf, sf.head
	side.Summary.SetFlowIter(sf.fileOrder())
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
