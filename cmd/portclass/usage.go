package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// usageError is a command line without the arguments its command needs. run prints
// it as it is, the usage line and an example, rather than as a log line.
type usageError struct {
	reason  string // what was wrong, "" when no argument was given at all
	use     string // the usage line
	example string // the command's first example, indented
	help    string // the command that shows every flag
}

func (e *usageError) Error() string {
	var b strings.Builder
	if e.reason != "" {
		b.WriteString(e.reason + "\n")
	}
	b.WriteString("Usage: " + e.use + "\n")
	if e.example != "" {
		b.WriteString("\nExample:\n" + e.example + "\n")
	}
	b.WriteString("\nRun '" + e.help + "' for every flag.")
	return b.String()
}

// argsOrUsage is cobra's positional-argument check check, answering a command line
// whose arguments it refuses with the usage line and the command's first example
// (exit code 2) instead of cobra's "requires at least 1 arg(s)".
func argsOrUsage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil {
			return nil
		}
		e := &usageError{use: cmd.UseLine(), example: firstExample(cmd.Example), help: cmd.CommandPath() + " --help"}
		if len(args) > 0 {
			e.reason = cmd.CommandPath() + ": " + err.Error()
		}
		return usageErr(e)
	}
}

// firstExample is the first example of a cobra Example text: its comment lines and
// the command after them, with the command's continuation lines.
func firstExample(ex string) string {
	var out []string
	for _, line := range strings.Split(ex, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			if len(out) > 0 {
				break
			}
			continue
		}
		out = append(out, line)
		if !strings.HasPrefix(t, "#") && !strings.HasSuffix(t, `\`) {
			break
		}
	}
	return strings.Join(out, "\n")
}

// printUsage writes the usageError in err, if any, to w and reports whether there was one.
func printUsage(w io.Writer, err error) bool {
	var ue *usageError
	if !errors.As(err, &ue) {
		return false
	}
	fmt.Fprintln(w, ue.Error())
	return true
}
