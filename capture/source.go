package capture

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ErrNotCapture is returned (wrapped in a *FormatError) when an input is neither a
// pcap nor a pcapng file, compressed or not.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// FormatError says which input could not be used as a capture and why.
type FormatError struct {
	Path  string
	First []byte // the first bytes of the (decompressed) stream, at most 8
	Err   error
}

func (e *FormatError) Error() string {
	return e.Path + ": " + e.Reason()
}

// Reason is the error without the path: what is wrong with the input.
func (e *FormatError) Reason() string {
	switch {
	case errors.Is(e.Err, ErrNotCapture) && len(e.First) == 0 && e.Path == "-":
		return "empty input, " + e.Err.Error()
	case errors.Is(e.Err, ErrNotCapture) && len(e.First) == 0:
		return "empty file, " + e.Err.Error()
	case errors.Is(e.Err, ErrNotCapture):
		return fmt.Sprintf("%v (first bytes 0x%s)", e.Err, hex.EncodeToString(e.First))
	}
	return e.Err.Error()
}

func (e *FormatError) Unwrap() error { return e.Err }

// Limits on what one record may claim; a record beyond them is treated as corruption.
// They keep a hostile file from making portclass allocate gigabytes: whatever the
// input, one reader holds at most two read buffers (2 × 512 KiB), one pcapng block
// (16 MiB, only when a block is larger than the buffer) and, for zstd, one window.
const (
	// MaxCapLen is the largest captured length of one packet accepted (256 KiB; the
	// largest real snaplen, Linux's 262144).
	MaxCapLen = 256 << 10
	// MaxBlockLen is the largest pcapng block accepted (16 MiB).
	MaxBlockLen = 16 << 20
	// readBuf is the read buffer of the format readers: records up to MaxCapLen are
	// decoded in place.
	readBuf = 512 << 10
	// rawBuf buffers the file under a decompressor (and, for an uncompressed file,
	// under the format readers, which read large blocks past it).
	rawBuf = 64 << 10
	// maxZstdWindow bounds the memory a zstd stream may ask for; a frame that declares
	// a larger window is refused (zstd's own default limit is 512 MiB).
	maxZstdWindow = 64 << 20
	// maxWarnings bounds the problems listed per input; the rest are counted.
	maxWarnings = 50
)

// bufPool and blockPool recycle the read buffers: a run over many small inputs (a
// directory of captures, or a fuzzer's millions of tiny files) would otherwise allocate
// and zero half a megabyte per input, which made fuzzing spend most of its time in
// memclr and GC.
var (
	bufPool   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, rawBuf) }}
	blockPool = sync.Pool{New: func() any { return newBlockReader(nil, readBuf) }}
)

func getBuf(r io.Reader) *bufio.Reader {
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putBuf(br *bufio.Reader) {
	br.Reset(nil)
	bufPool.Put(br)
}

func getBlock(r io.Reader) *blockReader {
	b := blockPool.Get().(*blockReader)
	b.reset(r)
	return b
}

func putBlock(b *blockReader) {
	b.reset(nil)
	blockPool.Put(b)
}

// StreamError is a decompression error (a corrupt or truncated gzip or zstd stream, a
// zstd window above the limit). Readers turn it into a *CorruptError at the offset of
// the decompressed stream where it happened.
type StreamError struct {
	Codec string // "gzip" or "zstd"
	Err   error
}

func (e *StreamError) Error() string {
	if msg := e.Err.Error(); strings.HasPrefix(msg, e.Codec) {
		return msg // klauspost's gzip errors already start with "gzip: "
	}
	return e.Codec + ": " + e.Err.Error()
}
func (e *StreamError) Unwrap() error { return e.Err }

// codecReader tags every error of a decompressor but io.EOF as a *StreamError.
type codecReader struct {
	r     io.Reader
	codec string
}

func (c codecReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = &StreamError{Codec: c.codec, Err: err}
	}
	return n, err
}

// readErr turns an error of the underlying stream met at offset off while reading
// field into what next returns: a decompression error becomes a *CorruptError (the
// input is used up to there, like a file cut short); other I/O errors pass as they are.
func readErr(off int64, field string, err error) error {
	var se *StreamError
	if errors.As(err, &se) {
		return &CorruptError{Offset: off, Field: field, Msg: se.Error()}
	}
	return err
}

// problems collects what went wrong in an input without stopping it, at most
// maxWarnings messages; beyond that it only counts. Readers append their totals
// (blocks skipped, timestamps out of range, ...) after all(), so those always show.
type problems struct {
	list []string
	more int
}

func (p *problems) add(format string, args ...any) {
	if len(p.list) < maxWarnings {
		p.list = append(p.list, fmt.Sprintf(format, args...))
		return
	}
	p.more++
}

func (p *problems) all() []string {
	if p.more == 0 {
		return p.list
	}
	return append(p.list[:len(p.list):len(p.list)], fmt.Sprintf("%d more problems not listed (only the first %d are)", p.more, maxWarnings))
}

// record is one packet as read from an input. Data aliases the reader's buffer and
// is valid only until the next call to next (see blockReader for the exception).
type record struct {
	Data     []byte
	TS       int64 // Unix nanoseconds
	WireLen  int
	LinkType uint16
	Offset   int64 // byte offset of the record in the (decompressed) stream
	// detached is set when Data is not in the blockReader's buffer but in the format
	// reader's own (a pcapng block larger than the buffer).
	detached bool
	// Tick, when not 0, makes the record a control record of a live source with no
	// packet: kindTick (TS is the wall clock) or kindMark (an interval ends at TS).
	Tick uint8
}

// packetReader is what the pipeline needs from a file format.
type packetReader interface {
	// next returns the next packet record. io.EOF ends the input cleanly; a
	// *CorruptError ends it early, everything before it being valid.
	next() (record, error)
	format() string
	// warnings lists problems that did not stop reading; called at the end.
	warnings() []string
}

// CorruptError says where a capture stops being readable.
type CorruptError struct {
	Offset int64  // byte offset in the (decompressed) stream
	Field  string // e.g. "record header", "block length"
	Msg    string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("offset %d: %s: %s", e.Offset, e.Field, e.Msg)
}

// countingReader counts bytes read from the underlying file, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}

// source is one opened input.
type source struct {
	path  string
	stats InputStats
	br    *blockReader // what rd reads from
	rd    packetReader
	close func() error
	// file is the input when it is an uncompressed regular file, which parallel
	// reading may read ahead with pread (see prefetch); raw buffers it under br.
	file    *os.File
	raw     *bufio.Reader
	counter *atomic.Int64
	// polled is set when a cancelled run interrupts the input's reads (see
	// interruptible): the record loop then reads on until that happens, so that the
	// report covers every packet read, instead of stopping at its own checks.
	polled bool
}

// open is openInput for a run that is not cancelled.
func open(path string, counter *atomic.Int64, stdin io.Reader) (*source, error) {
	return openInput(context.Background(), path, counter, stdin)
}

// openInput opens path ("-" for standard input), detects compression and format from
// the content (never from the name) and returns a reader positioned at the first packet.
// A pipe on standard input is read so that ctx's cancellation interrupts a read that
// waits (see interruptible): openInput then returns ctx's error.
func openInput(ctx context.Context, path string, counter *atomic.Int64, stdin io.Reader) (*source, error) {
	var (
		f      io.Reader
		size   int64 = -1
		cl           = func() error { return nil }
		polled bool
	)
	if path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		f = stdin
		if fh, ok := stdin.(*os.File); ok {
			if r, restore, ok := interruptible(ctx, fh); ok {
				f, polled = r, true
				cl = func() error { restore(); return nil }
			}
		}
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if st, err := fh.Stat(); err == nil {
			if st.IsDir() {
				fh.Close()
				return nil, &FormatError{Path: path, Err: errors.New("is a directory")}
			}
			if st.Mode().IsRegular() {
				size = st.Size() // a FIFO's is 0: unknown
			}
		}
		f, cl = fh, fh.Close
		if r, restore, ok := interruptible(ctx, fh); ok {
			f, polled = r, true
			cl = func() error { restore(); return fh.Close() }
		}
	}
	s := &source{path: path, counter: counter, polled: polled}
	s.stats = InputStats{Path: path, Size: size, LinkTypes: map[string]uint64{}}
	raw := getBuf(countingReader{f, counter})
	var stream io.Reader = raw
	cl0 := cl
	cl = func() error { putBuf(raw); return cl0() }
	magic, _ := raw.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(raw)
		if err != nil {
			cl()
			return nil, &FormatError{Path: path, Err: &StreamError{Codec: "gzip", Err: err}}
		}
		s.stats.Compression = "gzip"
		stream = codecReader{zr, "gzip"}
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
		if err != nil {
			cl()
			return nil, &FormatError{Path: path, Err: &StreamError{Codec: "zstd", Err: err}}
		}
		s.stats.Compression = "zstd"
		stream = codecReader{zr, "zstd"}
		cl1 := cl
		cl = func() error { zr.Close(); return cl1() }
	}
	s.br = getBlock(stream)
	cl2 := cl
	cl = func() error { putBlock(s.br); return cl2() }
	s.close = cl
	head, err := s.br.Peek(4)
	if len(head) < 4 {
		first := append([]byte(nil), head...) // copied before the buffer goes back to the pool
		cl()
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, err // interrupted before the header came
		}
		if err == nil || err == io.EOF {
			err = ErrNotCapture
		}
		return nil, &FormatError{Path: path, First: first, Err: err}
	}
	switch {
	case isPcapMagic(head):
		s.rd, err = newPcapReader(s.br)
	case bytes.Equal(head, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		s.rd, err = newNgReader(s.br)
	default:
		first, _ := s.br.Peek(8)
		first = append([]byte(nil), first...)
		cl()
		return nil, &FormatError{Path: path, First: first, Err: ErrNotCapture}
	}
	if err != nil {
		cl()
		return nil, &FormatError{Path: path, Err: err}
	}
	s.stats.Format = s.rd.format()
	if fh, ok := f.(*os.File); ok && stream == io.Reader(raw) {
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			s.file, s.raw = fh, raw
		}
	}
	return s, nil
}

// Expand turns the command line's inputs into a list of inputs: files as given,
// directories walked recursively with their regular files in lexical order, "-" as is.
// It fails on the first input that does not exist.
func Expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var files []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// Check opens each input that is a regular file and reads its header, so that a
// run can refuse bad input before it reads anything. Standard input, FIFOs and other
// inputs that cannot be read twice are not checked.
func Check(paths []string) error {
	for _, p := range paths {
		if p == "-" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() && !st.IsDir() {
			continue
		}
		s, err := open(p, nil, nil)
		if err != nil {
			return err
		}
		s.close()
	}
	return nil
}
