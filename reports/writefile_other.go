//go:build !unix

package reports

import (
	"io/fs"
	"os"
)

// followLink: other systems have no sticky-directory rule for links.
func followLink(string, fs.FileInfo) error { return nil }

// keepOwner: ownership is not kept where it has no POSIX meaning.
func keepOwner(*os.File, fs.FileInfo) {}
