package capture

import (
	"context"
	"sync"
	"sync/atomic"
)

// Parallel inputs. Flows never span inputs, so with several workers and several
// inputs (a directory of rotated captures, the common case for long recordings) each
// worker reads whole inputs on its own: one input, one goroutine, one flow table, no
// packet or header shared between cores. That is what scales on small machines, where
// handing packets of one input from core to core costs more than it saves
// (docs/performance.md). The calling goroutine emits the flows input by input, in the
// order of the inputs and within an input in the order of one table, so the flows,
// their order and the Result are exactly those of a sequential run. A worker ahead of
// the emitter hands over its flows in batches through a bounded queue and waits when
// the queue is full, so memory stays bounded by inputQueue·inputBatch flows per worker.
var (
	inputBatch = 1024 // flows per batch
	inputQueue = 32   // batches queued per input
)

// inputRun is one input of a parallel run: the batches of its flows, in order, and
// what reading it gave, valid once batches is closed.
type inputRun struct {
	batches chan []Flow
	res     sourceResult
	openErr error
}

// runInputs is Run with o.Workers > 1 and several inputs; see the comment above.
func runInputs(ctx context.Context, paths []string, o Options, emit func(*Flow)) (Result, error) {
	workers := min(o.Workers, len(paths))
	one := o
	one.Workers = 1
	if o.MaxFlows > 0 {
		one.MaxFlows = max(1, o.MaxFlows/workers)
	}
	ctx, cancel := context.WithCancel(ctx)
	quit := make(chan struct{}) // closed when the emitter is done
	runs := make([]inputRun, len(paths))
	for k := range runs {
		runs[k].batches = make(chan []Flow, inputQueue)
	}
	free := sync.Pool{New: func() any { return make([]Flow, 0, inputBatch) }}
	var (
		next atomic.Int64 // the next input to claim: inputs are started in order
		stop atomic.Bool  // the emitter is done: claim no more
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				k := int(next.Add(1) - 1)
				if k >= len(paths) {
					return
				}
				// Cancelled or not, the input is read: a run cancelled between two
				// inputs reports the next one with what it read (nothing), as a
				// sequential run does.
				readInput(ctx, quit, paths[k], &one, &runs[k], &free)
			}
		}()
	}

	var res Result
	var err error
	for k := range runs {
		r := &runs[k]
		for b := range r.batches {
			for i := range b {
				emit(&b[i])
			}
			free.Put(b[:0])
		}
		if r.openErr != nil {
			err = r.openErr
			break
		}
		res.Inputs = append(res.Inputs, r.res.st)
		res.Flows += r.res.flows
		res.Evicted += r.res.evicted
		if r.res.err != nil {
			err = r.res.err
			break
		}
	}
	// The inputs after a failed one are not reported: stop their workers (a send
	// waits on ctx too) and leave the inputs not yet claimed.
	stop.Store(true)
	close(quit)
	cancel()
	wg.Wait()
	return res, err
}

// readInput reads one input of a parallel run into r, closing r.batches at the end.
// Its flows are dropped only once quit is closed: a run cancelled through ctx still
// emits the open flows of the input it stopped in.
func readInput(ctx context.Context, quit <-chan struct{}, path string, o *Options, r *inputRun, free *sync.Pool) {
	defer close(r.batches)
	src, err := openInput(ctx, path, o.BytesRead, o.Stdin)
	if err != nil {
		r.openErr = err
		return
	}
	defer src.close()
	b := free.Get().([]Flow)
	stopped := false
	send := func() {
		if stopped {
			b = b[:0]
			return
		}
		select {
		case r.batches <- b:
			b = free.Get().([]Flow)
		case <-quit:
			stopped, b = true, b[:0]
		}
	}
	r.res = runSingle(ctx, src, o, func(f *Flow) {
		b = append(b, *f)
		if len(b) == inputBatch {
			send()
		}
	})
	if len(b) > 0 {
		send()
	}
}
