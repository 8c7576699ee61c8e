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
		e := &usageError{use: cmd.UseLine(), example: firstExample(cmd.Example, cmd.CommandPath()), help: cmd.CommandPath() + " --help"}
		if len(args) > 0 {
			e.reason = cmd.CommandPath() + ": " + err.Error()
		}
		return usageErr(e)
	}
}

// firstExample is the first example of a cobra Example text that runs the command
// (path, such as "portclass merge"): the comment lines of its block and that command
// line with its continuation lines; the first block when none does.
func firstExample(ex, path string) string {
	var comments, first []string
	for _, block := range strings.Split(ex, "\n\n") {
		comments = comments[:0]
		lines := strings.Split(strings.Trim(block, "\n"), "\n")
		for k := 0; k < len(lines); k++ {
			t := strings.TrimSpace(lines[k])
			if strings.HasPrefix(t, "#") {
				comments = append(comments, lines[k])
				continue
			}
			cmd := []string{lines[k]}
			for strings.HasSuffix(strings.TrimSpace(lines[k]), `\`) && k+1 < len(lines) {
				k++
				cmd = append(cmd, lines[k])
			}
			if first == nil {
				first = append(append([]string{}, comments...), cmd...)
			}
			if strings.HasPrefix(t, path+" ") {
				return strings.Join(append(append([]string{}, comments...), cmd...), "\n")
			}
		}
	}
	return strings.Join(first, "\n")
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
