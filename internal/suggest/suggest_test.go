package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"backup-server", "backup-sever", 1}, {"top", "tpo", 2}, {"flaw", "lawn", 2},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Distance(tt.b, tt.a); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestClose(t *testing.T) {
	for _, tt := range []struct {
		word, cand string
		want       bool
	}{
		{"tpo", "top", true},
		{"Repositry-Linux", "repository-linux", true},
		{"top", "workers", false},
		{"backup-proxy-vmware-x", "backup-proxy-vmware", true},
		{"dns", "ntp-server", false},
	} {
		if got := Close(tt.word, tt.cand); got != tt.want {
			t.Errorf("Close(%q, %q) = %v, want %v", tt.word, tt.cand, got, tt.want)
		}
	}
}
