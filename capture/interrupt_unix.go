//go:build unix

package capture

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"
)

// polledStdin is standard input reopened through the runtime's poller (see
// interruptible). It is made once and never dropped: when an *os.File is collected,
// its descriptor is closed.
var polledStdin struct {
	sync.Mutex
	f *os.File
}

// interruptible returns a reader of fh that ctx's cancellation interrupts, when fh is
// a pipe, a FIFO or a socket: a read that waits for the producer then returns ctx's
// error, so that `producer | portclass analyze -` (or a FIFO given by name) stops at
// the first signal and reports what it read, even when the producer has nothing more
// to send. Regular files never wait; terminals are left alone.
//
// A FIFO that os.Open opened is already read through the runtime's poller. Standard
// input is not: its descriptor is switched to non-blocking mode and read through a
// second *os.File, and switched back by restore, since the mode belongs to the open
// file description, which other processes may share.
func interruptible(ctx context.Context, fh *os.File) (r *cancelReader, restore func(), ok bool) {
	if ctx.Done() == nil {
		return nil, nil, false
	}
	st, err := fh.Stat()
	if err != nil || st.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return nil, nil, false
	}
	f, undo := fh, func() {}
	if fh == os.Stdin {
		fd := syscall.Stdin
		if syscall.SetNonblock(fd, true) != nil {
			return nil, nil, false
		}
		undo = func() { _ = syscall.SetNonblock(fd, false) }
		polledStdin.Lock()
		if polledStdin.f == nil {
			polledStdin.f = os.NewFile(uintptr(fd), fh.Name()) // non-blocking: polled
		}
		f = polledStdin.f
		polledStdin.Unlock()
	}
	// Clears a deadline an earlier run left, and fails if f is not polled after all.
	if f.SetReadDeadline(time.Time{}) != nil {
		undo()
		return nil, nil, false
	}
	r = &cancelReader{r: f}
	stop := context.AfterFunc(ctx, func() {
		r.cancel(ctx.Err())
		_ = f.SetReadDeadline(time.Now())
	})
	return r, func() { stop(); undo() }, true
}
