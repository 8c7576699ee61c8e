package reports

import "testing"

func TestTermSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"a\x1b[31mred", `a\x1b[31mred`},
		{"tab\there", "tab here"},
		{"new\nline", `new\nline`},
		{"bidi\u202eoverride", `bidi\u202eoverride`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"émoji ✓", "émoji ✓"},
	}
	for _, tt := range tests {
		if got := termSafe(tt.in); got != tt.want {
			t.Errorf("termSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
