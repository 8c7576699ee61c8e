package pipeline

import (
	"errors"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// After the capture, the report reads every flow from the spool twice, classifying it
// into a record each time: once for the breakdowns, once for the flow records. With
// more than one worker, a goroutine reads the spool and classifies ahead, in batches,
// while the caller aggregates or encodes: the two halves cost about the same (docs/
// performance.md), so the stage after the capture takes about half the time on two
// cores. The records and their order are the same either way.
const (
	recordBatch   = 256 // records per batch
	recordBatches = 8   // batches in flight
)

// batches recycles at most recordBatches batches between two goroutines. They are made
// on demand and grow by append: a small input costs one small batch, not the page
// faults of eight full ones (which took 6 ms off every start-up).
type batches[T any] struct {
	free chan []T
	made int
}

func newBatches[T any]() *batches[T] {
	return &batches[T]{free: make(chan []T, recordBatches)}
}

// get returns an empty batch, waiting for one to come back once all are made.
func (bs *batches[T]) get() []T {
	select {
	case b := <-bs.free:
		return b
	default:
	}
	if bs.made < recordBatches {
		bs.made++
		return nil
	}
	return <-bs.free
}

// getOr is get, giving up when quit is closed (ok false).
func (bs *batches[T]) getOr(quit <-chan struct{}) (b []T, ok bool) {
	select {
	case b := <-bs.free:
		return b, true
	default:
	}
	if bs.made < recordBatches {
		bs.made++
		return nil, true
	}
	select {
	case b := <-bs.free:
		return b, true
	case <-quit:
		return nil, false
	}
}

// put gives back a batch that was used (cleared: nothing it held stays reachable).
func (bs *batches[T]) put(b []T) {
	clear(b)
	bs.free <- b[:0]
}

// addAhead hands the flows a single capture worker emits to another goroutine, in
// batches, which puts them in the spool and gives them to the Veeam inference while
// the worker reads on: the capture's flow table never waits for either.
type addAhead struct {
	to   func(*capture.Flow)
	b    []capture.Flow
	full chan []capture.Flow
	bs   *batches[capture.Flow]
	done chan struct{}
}

func newAddAhead(add func(*capture.Flow)) *addAhead {
	x := &addAhead{to: add, full: make(chan []capture.Flow, recordBatches), bs: newBatches[capture.Flow](), done: make(chan struct{})}
	x.b = x.bs.get()
	go func() {
		defer close(x.done)
		for b := range x.full {
			for i := range b {
				x.to(&b[i])
			}
			x.bs.put(b)
		}
	}()
	return x
}

// add takes one flow from the capture (from one goroutine; f is copied).
func (x *addAhead) add(f *capture.Flow) {
	x.b = append(x.b, *f)
	if len(x.b) == recordBatch {
		x.full <- x.b
		x.b = x.bs.get()
	}
}

// close hands over the last flows and returns once every flow was added.
func (x *addAhead) close() {
	if len(x.b) > 0 {
		x.full <- x.b
	}
	close(x.full)
	<-x.done
}

// errStopped ends the classifying goroutine when the caller stops early.
var errStopped = errors.New("records: stopped")

// recordIter returns the FlowIter of the spool's flows classified by cls: in the
// calling goroutine, or read and classified ahead by another when ahead is set.
func recordIter(each func(func(*capture.Flow) error) error, cls *classify.Classifier, ahead bool) reports.FlowIter {
	batches := batchIter(each, cls, ahead)
	return func(yield func(*classify.Flow) error) error {
		return batches(func(b []classify.Flow) error {
			for i := range b {
				if err := yield(&b[i]); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// serialBatch is the number of records a batch holds when they are classified in the
// calling goroutine: enough for reports.Aggregator.AddBatch to overlap the cache
// misses of their hosts (21 KB of records, which stay in the first-level cache).
const serialBatch = 64

// batchIter is recordIter yielding the records in batches, in order: each batch is
// valid during the call only.
func batchIter(each func(func(*capture.Flow) error) error, cls *classify.Classifier, ahead bool) func(yield func([]classify.Flow) error) error {
	if !ahead {
		return func(yield func([]classify.Flow) error) error {
			b := make([]classify.Flow, 0, serialBatch) // reused: the records are valid during the call only
			err := each(func(f *capture.Flow) error {
				b = append(b, cls.Flow(f))
				if len(b) < serialBatch {
					return nil
				}
				err := yield(b)
				b = b[:0]
				return err
			})
			if err == nil && len(b) > 0 {
				err = yield(b)
			}
			return err
		}
	}
	return func(yield func([]classify.Flow) error) error {
		full := make(chan []classify.Flow, recordBatches)
		bs := newBatches[classify.Flow]()
		quit := make(chan struct{})
		var readErr error // set before full is closed
		go func() {
			defer close(full)
			b := bs.get()
			readErr = each(func(f *capture.Flow) error {
				b = append(b, cls.Flow(f))
				if len(b) < recordBatch {
					return nil
				}
				select {
				case full <- b:
				case <-quit:
					return errStopped
				}
				var ok bool
				if b, ok = bs.getOr(quit); !ok {
					return errStopped
				}
				return nil
			})
			if readErr == nil && len(b) > 0 {
				select {
				case full <- b:
				case <-quit:
				}
			}
		}()
		for b := range full {
			if err := yield(b); err != nil {
				close(quit)
				for range full { // until the goroutine is gone
				}
				return err
			}
			bs.put(b)
		}
		if errors.Is(readErr, errStopped) {
			return nil
		}
		return readErr
	}
}
