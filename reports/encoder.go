package reports

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Encoder writes a summary in one output format. Each format is its own type in its own
// file (text.go, json.go, ndjson.go, csv.go, markdown.go, html.go); adding one is adding a file
// and a line to the formats table below.
type Encoder interface {
	Encode(w io.Writer, s *Summary) error
}

// ErrUnknownFormat is returned (wrapped) by EncoderFor for a format name it does not know.
var ErrUnknownFormat = errors.New("unknown report format")

// formatInfo names a format, the file extensions that select it and its encoder.
type formatInfo struct {
	name    string
	exts    []string // lower case, with the dot
	encoder Encoder
}

// formats is read-only: the one table of output formats, sorted by name.
var formats = []formatInfo{
	{"csv", []string{".csv"}, CSV{}},
	{"html", []string{".html", ".htm"}, HTML{MaxFlows: DefaultHTMLMaxFlows}},
	{"json", []string{".json"}, JSON{}},
	{"md", []string{".md", ".markdown"}, Markdown{}},
	{"ndjson", []string{".ndjson", ".jsonl"}, NDJSON{}},
	{"text", []string{".txt", ".text"}, Text{}},
}

// Formats returns the names of the formats EncoderFor accepts, sorted.
func Formats() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.name
	}
	return names
}

// EncoderFor returns the encoder of a format name ("text", "json", "ndjson", "csv",
// "md", "html"). An unknown name gives an error wrapping ErrUnknownFormat that lists the valid
// names.
func EncoderFor(format string) (Encoder, error) {
	for _, f := range formats {
		if f.name == format {
			return f.encoder, nil
		}
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownFormat, format, strings.Join(Formats(), ", "))
}

// FormatFromPath returns the format a file name's extension selects (case-insensitive):
// .json → json, .ndjson/.jsonl → ndjson, .csv → csv, .md/.markdown → md,
// .txt/.text → text, .html/.htm → html. It returns false for any other extension, so that the caller
// falls back to its --format.
func FormatFromPath(path string) (string, bool) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == "" {
		return "", false
	}
	for _, f := range formats {
		for _, e := range f.exts {
			if e == ext {
				return f.name, true
			}
		}
	}
	return "", false
}
