//go:build !unix

package capture

import (
	"context"
	"os"
)

// interruptible is for Unix pipes only (see interrupt_unix.go).
func interruptible(ctx context.Context, fh *os.File) (r *cancelReader, restore func(), ok bool) {
	return nil, nil, false
}
