package capture

import (
	"errors"
	"io"
	"os"
	"sync"
)

// cancelReader reads r until cancel: then the read that a deadline interrupts (and
// every later one) returns the cancellation's error instead of the deadline's.
type cancelReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (c *cancelReader) cancel(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		if c.err != nil {
			err = c.err
		}
		c.mu.Unlock()
	}
	return n, err
}
