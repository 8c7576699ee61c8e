//go:build !unix

package main

import (
	"fmt"
	"runtime"

	"github.com/rs/zerolog"
)

// dropPrivileges is not available on this system.
func dropPrivileges(name string, log zerolog.Logger) error {
	return fmt.Errorf("--user %s: not supported on %s", name, runtime.GOOS)
}
