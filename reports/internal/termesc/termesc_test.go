package termesc

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "192.0.2.1:443", "192.0.2.1:443"},
		{"empty", "", ""},
		{"clear screen", "\x1b[2Jowned", `\x1b[2Jowned`},
		{"carriage return", "ok\rfake", `ok\x0dfake`},
		{"newline and tab", "a\nb\tc", `a\x0ab\x09c`},
		{"nul", "a\x00b", `a\x00b`},
		{"del", "a\x7fb", `a\x7fb`},
		{"invalid utf8", "a\xff\xfeb", `a\xff\xfeb`},
		{"truncated rune", "a\xe2\x82", `a\xe2\x82`},
		{"c1 csi", "a\u009b2Jb", `a\xc2\x9b2Jb`},
		{"bidi override", "abc\u202edcb", `abc\u202edcb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"valid non-ascii kept", "Zürich → 東京", "Zürich → 東京"},
		{"backslash kept", `C:\captures\a.pcap`, `C:\captures\a.pcap`},
		{"osc title", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := string(Append([]byte("x"), tt.in)); got != "x"+tt.want {
				t.Errorf("Append(%q) = %q, want %q", tt.in, got, "x"+tt.want)
			}
		})
	}
}

func TestStringCleanDoesNotAllocate(t *testing.T) {
	s := "203.0.113.80:8080"
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Errorf("String on clean input: %v allocs, want 0", n)
	}
}

// FuzzString checks the escaper's promises on any input: valid UTF-8 out, no C0, DEL
// or C1 control and no bidi formatting character left, and clean input unchanged.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J", "a\rb", "\xff", "\u009b", "\u202e", "Zürich"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if !utf8.ValidString(got) {
			t.Fatalf("String(%q) = %q: invalid UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || isFormatting(r) {
				t.Fatalf("String(%q) = %q: contains %U", s, got, r)
			}
		}
		clean := utf8.ValidString(s)
		for _, r := range s {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || isFormatting(r) {
				clean = false
			}
		}
		if clean && got != s {
			t.Fatalf("String(%q) = %q: clean input changed", s, got)
		}
	})
}
