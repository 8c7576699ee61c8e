// Command portclass classifies the traffic in packet captures by protocol, IANA
// port class, service and Veeam Backup & Replication role, and reports what is
// unexpected. See the README for the command-line contract and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/portclass/portclass/internal/prefault" // fewer page faults at start: see its doc
)

// Exit codes, the contract scripts and CI gates rely on.
const (
	exitOK       = 0
	exitFindings = 1 // diff found differences, verify found problems
	exitUsage    = 2 // bad usage, bad configuration or unusable input
	exitSignal   = 130
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{exitUsage, err} }

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signalContext()
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// signalContext is cancelled by the first SIGINT or SIGTERM, so that long work stops
// and still writes its report; a second signal exits at once. The context's cause is
// a *signalCause naming the signal (it wraps context.Canceled).
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		cancel(&signalCause{sig})
		<-ch
		fmt.Fprintln(os.Stderr, "portclass: second signal, exiting at once")
		os.Exit(exitSignal)
	}()
	return ctx, func() { signal.Stop(ch); cancel(nil) }
}

// signalCause is why a command's context was cancelled: a signal.
type signalCause struct{ sig os.Signal }

func (c *signalCause) Error() string { return "interrupted by " + c.name() }
func (c *signalCause) Unwrap() error { return context.Canceled }

// name is the signal's name as kill(1) spells it.
func (c *signalCause) name() string {
	switch c.sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return c.sig.String()
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string) int {
	app := newApp(os.Stdin, os.Stdout, os.Stderr)
	root := app.rootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) && (ee.code == exitFindings || errors.As(err, new(*incompleteError))) {
		app.log.Warn().Msg(err.Error()) // an answer, or a report that says it is incomplete: not a failure
		return ee.code
	}
	if !printUsage(app.stderr, err) {
		app.log.Error().Msg(err.Error())
	}
	if ee != nil {
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		return exitSignal
	}
	// cobra's own errors (unknown flag or command, bad arguments) are usage errors
	return exitUsage
}
