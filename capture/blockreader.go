package capture

import (
	"errors"
	"io"
)

// byteReader is what the format readers need from their input. Peek(n) returns
// fewer than n bytes only at the end of the input (with io.EOF), on a read error, or
// when n exceeds Size (with errBufferFull).
type byteReader interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	Read(p []byte) (int, error)
	Size() int
}

var errBufferFull = errors.New("capture: peek larger than the read buffer")

// minRead is the least room a blockReader makes before it reads: reads stay large.
const minRead = 64 << 10

// blockReader is a buffered reader like bufio.Reader, with one difference that lets
// several workers share what it reads without a copy: when it runs out of room it can
// move on to a new buffer (rotate) instead of moving the unread bytes to the front of
// the one it has, so the records handed out from the old buffer stay valid until
// whoever gave the new buffer says otherwise (see runParallel). Without rotate it
// behaves like bufio.Reader: slices returned by Peek are valid until the next read.
type blockReader struct {
	r          io.Reader
	buf        []byte
	rpos, wpos int
	err        error
	empty      int // reads in a row that returned nothing
	// rotate, when set, returns the buffer to continue in; the unread bytes are
	// copied to its front.
	rotate func() []byte
	// next, when set, replaces reading from r: it returns the next block of the
	// input, already read (by a prefetcher, see prefetch), in buf[start:end], with
	// at least head bytes of room before start, where the unread bytes of the
	// current buffer are copied; err is the error met after the block (io.EOF at the
	// end). Size is then head: a Peek never needs more than the unread bytes plus
	// one block.
	next func() (buf []byte, start, end int, err error)
	head int
}

func newBlockReader(r io.Reader, size int) *blockReader {
	return &blockReader{r: r, buf: make([]byte, size)}
}

// reset makes b read from r, keeping its buffer (rotated in or not: either is free
// once the input that used it is done).
func (b *blockReader) reset(r io.Reader) {
	*b = blockReader{r: r, buf: b.buf[:cap(b.buf)]}
}

// fill reads until n bytes are buffered, the input ends or a read fails.
func (b *blockReader) fill(n int) {
	if b.next != nil {
		b.fillNext(n)
		return
	}
	for b.wpos-b.rpos < n && b.err == nil {
		if len(b.buf)-b.wpos < minRead || b.rpos+n > len(b.buf) {
			dst := b.buf
			if b.rotate != nil {
				dst = b.rotate()
			}
			m := copy(dst, b.buf[b.rpos:b.wpos])
			b.buf, b.rpos, b.wpos = dst, 0, m
		}
		k, err := b.r.Read(b.buf[b.wpos:])
		if k < 0 || k > len(b.buf)-b.wpos {
			err = errors.New("capture: reader returned an invalid count")
			k = 0
		}
		b.wpos += k
		switch {
		case err != nil:
			b.err = err
		case k > 0:
			b.empty = 0
		default:
			if b.empty++; b.empty >= 100 { // as bufio gives up on a reader that returns nothing
				b.err = io.ErrNoProgress
			}
		}
	}
}

// fillNext is fill with blocks from next: the unread bytes (fewer than head, since
// Peek asks for at most Size) go just before the new block's data.
func (b *blockReader) fillNext(n int) {
	for b.wpos-b.rpos < n && b.err == nil {
		buf, start, end, err := b.next()
		left := b.wpos - b.rpos
		if start < left || start < b.head || end < start || end > len(buf) {
			b.err = errors.New("capture: prefetched block without room for the unread bytes")
			return
		}
		copy(buf[start-left:start], b.buf[b.rpos:b.wpos])
		b.buf, b.rpos, b.wpos, b.err = buf, start-left, end, err
	}
}

func (b *blockReader) Peek(n int) ([]byte, error) {
	if n > b.Size() {
		return b.buf[b.rpos:b.wpos], errBufferFull
	}
	if b.wpos-b.rpos < n {
		b.fill(n)
		if b.wpos-b.rpos < n {
			return b.buf[b.rpos:b.wpos], b.err
		}
	}
	return b.buf[b.rpos : b.rpos+n : b.rpos+n], nil
}

func (b *blockReader) Discard(n int) (int, error) {
	if b.next != nil {
		done := 0
		for done < n {
			if b.rpos == b.wpos {
				if b.fill(1); b.rpos == b.wpos {
					return done, b.err
				}
			}
			k := min(n-done, b.wpos-b.rpos)
			b.rpos += k
			done += k
		}
		return done, nil
	}
	if m := b.wpos - b.rpos; n > m {
		b.rpos = b.wpos
		k, err := io.CopyN(io.Discard, b.r, int64(n-m))
		return m + int(k), err
	}
	b.rpos += n
	return n, nil
}

func (b *blockReader) Read(p []byte) (int, error) {
	if b.rpos == b.wpos {
		if b.err != nil {
			return 0, b.err
		}
		if len(p) >= len(b.buf) && b.next == nil {
			return b.r.Read(p) // large reads bypass the buffer
		}
		b.fill(1)
		if b.rpos == b.wpos {
			return 0, b.err
		}
	}
	n := copy(p, b.buf[b.rpos:b.wpos])
	b.rpos += n
	return n, nil
}

func (b *blockReader) Size() int {
	if b.next != nil {
		return b.head
	}
	return len(b.buf)
}
