package capture

import (
	"io"
	"os"
	"sync/atomic"
)

// Reading ahead. With Options.Prefetch, one worker's uncompressed regular file is not
// read by the worker: a fetcher goroutine copies it out of the page cache with pread(2),
// block after block, into buffers the worker's block reader then takes whole (see
// blockReader.next), so the copy, a third of one worker's time on the VM of
// docs/performance.md, runs on another core while the worker delimits, decodes and
// updates its flows.
const (
	prefetchBlock = 512 << 10 // bytes pread per block
	prefetchHead  = readBuf   // room before a block for the unread bytes of the previous one
	prefetchAhead = 3         // blocks read ahead
)

// prefetchMin is the smallest file read ahead: below it the copy costs less than the
// fetcher's buffers (page faults on fresh memory) and goroutine.
var prefetchMin int64 = 8 << 20

// fetchBlock is one block of the file and what reading it gave.
type fetchBlock struct {
	buf  []byte // prefetchHead + prefetchBlock
	off  int64
	n    int
	err  error
	done chan struct{} // receives once the block is read
}

// prefetcher reads one file ahead for one block reader. Only the reader goroutine
// calls next.
type prefetcher struct {
	file      *os.File
	off       int64 // of the next block to issue
	jobs      chan *fetchBlock
	free      []*fetchBlock
	ahead     []*fetchBlock // issued, oldest first
	cur, prev *fetchBlock   // the reader's block and the one before (its tail is being copied)
	made      int
	counter   *atomic.Int64
}

// startPrefetch starts reading src's file ahead from where its block reader has got
// to. It returns nil when src is not an uncompressed regular file or its position is
// unknown.
func startPrefetch(src *source) *prefetcher {
	if src.file == nil || src.br == nil || src.br.err != nil || src.stats.Size < prefetchMin {
		return nil
	}
	pos, err := src.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil
	}
	buffered := src.raw.Buffered()
	if src.counter != nil {
		src.counter.Add(-int64(buffered)) // read again by the fetcher
	}
	p := &prefetcher{file: src.file, off: pos - int64(buffered), jobs: make(chan *fetchBlock, prefetchAhead), counter: src.counter}
	go p.fetcher()
	for len(p.ahead) < prefetchAhead {
		p.issue()
	}
	return p
}

// prefetchBlocks is how many blocks a prefetcher makes: those read ahead, the reader's
// and the one before it.
const prefetchBlocks = prefetchAhead + 2

func (p *prefetcher) fetcher() {
	for b := range p.jobs {
		b.n, b.err = p.file.ReadAt(b.buf[prefetchHead:], b.off)
		if p.counter != nil {
			p.counter.Add(int64(b.n))
		}
		b.done <- struct{}{}
	}
}

// issue has the next block read, into a free buffer or, while fewer than
// prefetchBlocks exist, a new one (a small file needs few).
func (p *prefetcher) issue() {
	var b *fetchBlock
	if n := len(p.free); n > 0 {
		b, p.free = p.free[n-1], p.free[:n-1]
	} else {
		b = &fetchBlock{buf: make([]byte, prefetchHead+prefetchBlock), done: make(chan struct{}, 1)}
		p.made++
	}
	b.off, b.n, b.err = p.off, 0, nil
	p.off += prefetchBlock
	p.ahead = append(p.ahead, b)
	p.jobs <- b
}

// next is the block reader's next: the following block once it is read. The block
// two back goes back to the fetcher: the reader is done with it, and the previous one
// still holds the tail being copied.
func (p *prefetcher) next() ([]byte, int, int, error) {
	if p.prev != nil {
		p.free = append(p.free, p.prev)
	}
	p.prev, p.cur = p.cur, p.ahead[0]
	copy(p.ahead, p.ahead[1:])
	p.ahead = p.ahead[:len(p.ahead)-1]
	for (len(p.free) > 0 || p.made < prefetchBlocks) && len(p.ahead) < prefetchAhead {
		p.issue()
	}
	b := p.cur
	<-b.done
	err := b.err
	if err == nil && b.n == 0 {
		err = io.EOF
	}
	return b.buf, prefetchHead, prefetchHead + b.n, err
}

// stop ends the fetcher once the blocks in flight are read.
func (p *prefetcher) stop() { close(p.jobs) }
