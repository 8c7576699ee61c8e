//go:build !unix

package main

import (
	"fmt"
	"runtime"

	"github.com/rs/zerolog"
)

// runAs is the user --user names; switching users is not available on this system.
type runAs struct{}

func lookupUser(name string) (*runAs, error) {
	return nil, fmt.Errorf("--user %s: not supported on %s", name, runtime.GOOS)
}

func (r *runAs) drop(log zerolog.Logger) error { return nil }
