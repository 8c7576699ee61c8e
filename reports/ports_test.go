package reports

import (
	"testing"

	"github.com/portclass/portclass/classify/veeam"
)

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

// TestPortsReadOn: the text says on which version's page each rule was read, and when a
// rule said to apply to 12 was not read on a v12-era page.
func TestPortsReadOn(t *testing.T) {
	for _, tt := range []struct {
		ref  veeam.RuleRef
		want string
	}{
		{veeam.RuleRef{Versions: []string{"12", "13"}, Verified: []string{"13"}}, "v13 (12 not read)"},
		{veeam.RuleRef{Versions: []string{"12", "13"}, Verified: []string{"11", "12", "13"}}, "v11,v12,v13"},
		{veeam.RuleRef{Versions: []string{"12", "13"}, Verified: []string{"12-community", "13"}}, "v12-community,v13"},
		{veeam.RuleRef{Versions: []string{"13"}, Verified: []string{"13"}}, "v13"},
		{veeam.RuleRef{Versions: []string{"12"}}, "- (12 not read)"},
	} {
		if got := readOn(tt.ref); got != tt.want {
			t.Errorf("readOn(%v, %v) = %q, want %q", tt.ref.Versions, tt.ref.Verified, got, tt.want)
		}
	}
}
