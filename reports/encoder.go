package reports

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Encoder writes one kind of report in one output format. The kinds are the
// analysis summary (*Summary), a verification (*VerifyReport), a diff (*Diff), the
// firewall rules of a policy (*FirewallRules) and what ports and roles are
// (*PortsReport). Each format of each kind is a type of its own, in the file of its
// format or kind; adding one is adding the type and a line to the registry below.
type Encoder[R any] interface {
	Encode(w io.Writer, r R) error
}

// FlowEncoder is implemented by the summary encoders of the formats that hold the flow
// records and nothing of the rest of the summary (parquet). EncodeFlows writes the
// records flows yields as Encode writes a summary's (interrupted marks the report of
// an interrupted run), so that a caller can write the file in the same pass over the
// records as the one that aggregates the summary, rather than in a second pass (see
// pipeline.Run.SummaryAnd).
type FlowEncoder interface {
	EncodeFlows(w io.Writer, flows FlowIter, interrupted bool) error
}

// ErrUnknownFormat is returned (wrapped) by EncoderFor for a format name it does not
// know for the kind of report asked for.
var ErrUnknownFormat = errors.New("unknown report format")

// format is one output format: its name, the file extensions that select it, and its
// encoder for every kind of report it writes.
type format struct {
	name     string
	exts     []string // lower case, with the dot
	encoders []any    // Encoder[R] values, one per report kind R
}

// registry is read-only: the one table of output formats, sorted by name.
var registry = []format{
	{"csv", []string{".csv"}, []any{CSV{}, DiffCSV{}}},
	{"html", []string{".html", ".htm"}, []any{HTML{MaxFlows: DefaultHTMLMaxFlows}}},
	{"ip6tables", nil, []any{Iptables{V6: true}}},
	{"ipfix", []string{".ipfix"}, []any{IPFIX{}}},
	{"iptables", nil, []any{Iptables{}}},
	{"json", []string{".json"}, []any{JSON{}, VerifyJSON{}, DiffJSON{}, PortsJSON{}}},
	{"md", []string{".md", ".markdown"}, []any{Markdown{}, VerifyMarkdown{}, DiffMarkdown{}}},
	{"ndjson", []string{".ndjson", ".jsonl"}, []any{NDJSON{}, DiffNDJSON{}}},
	{"nftables", nil, []any{Nftables{}}},
	{"parquet", []string{".parquet"}, []any{Parquet{}}},
	{"text", []string{".txt", ".text"}, []any{Text{}, VerifyText{}, DiffText{}, PortsText{}}},
	{"windows-firewall", nil, []any{WindowsFirewall{}}},
}

// encoderOf returns f's encoder of report kind R.
func encoderOf[R any](f *format) (Encoder[R], bool) {
	for _, e := range f.encoders {
		if enc, ok := e.(Encoder[R]); ok {
			return enc, true
		}
	}
	return nil, false
}

// EncoderFor returns the encoder of format name for reports of kind R, e.g.
// EncoderFor[*Summary]("json"). An unknown name, or one that does not write R, gives an
// error wrapping ErrUnknownFormat that lists the valid names.
func EncoderFor[R any](name string) (Encoder[R], error) {
	for i := range registry {
		if registry[i].name == name {
			if enc, ok := encoderOf[R](&registry[i]); ok {
				return enc, nil
			}
		}
	}
	return nil, fmt.Errorf("%w %q for %s (valid: %s)", ErrUnknownFormat, name, kindName[R](), strings.Join(FormatsFor[R](), ", "))
}

// FormatsFor returns the names of the formats that write reports of kind R, sorted.
func FormatsFor[R any]() []string {
	var names []string
	for i := range registry {
		if _, ok := encoderOf[R](&registry[i]); ok {
			names = append(names, registry[i].name)
		}
	}
	return names
}

// Formats returns the names of the formats of summaries, sorted.
func Formats() []string { return FormatsFor[*Summary]() }

// kindName names a kind of report in errors.
func kindName[R any]() string {
	switch any((*R)(nil)).(type) {
	case **Summary:
		return "a summary"
	case **VerifyReport:
		return "verify"
	case **Diff:
		return "a diff"
	case **FirewallRules:
		return "firewall rules"
	case **PortsReport:
		return "ports"
	}
	return "this report"
}

// FormatFromPath returns the format a file name's extension selects (case-insensitive):
// .json → json, .ndjson/.jsonl → ndjson, .csv → csv, .md/.markdown → md,
// .txt/.text → text, .html/.htm → html, .ipfix → ipfix,
// .parquet → parquet. It returns false for any other extension, so that
// the caller falls back to its --format. The caller checks that the format writes its
// kind of report (FormatsFor).
func FormatFromPath(path string) (string, bool) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == "" {
		return "", false
	}
	for _, f := range registry {
		if slices.Contains(f.exts, ext) {
			return f.name, true
		}
	}
	return "", false
}

// WithWidth returns enc fitting its lines to width columns when it writes text (Text,
// VerifyText, DiffText, PortsText: see Text), and enc unchanged otherwise. Width 0 is
// no limit.
func WithWidth[R any](enc Encoder[R], width int) Encoder[R] {
	var e any
	switch any(enc).(type) {
	case Text:
		e = Text{Width: width}
	case VerifyText:
		e = VerifyText{Width: width}
	case DiffText:
		e = DiffText{Width: width}
	case PortsText:
		e = PortsText{Width: width}
	default:
		return enc
	}
	return e.(Encoder[R])
}
