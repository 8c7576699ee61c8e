package pipeline

import (
	"testing"
	"time"
)

func TestStrftimeAndSizes(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if got := Strftime("report-%Y%m%dT%H%M%S-%j-%s-%%.json", at); got != "report-20260304T050607-063-1772600767-%.json" {
		t.Errorf("strftime: %q", got)
	}
	for _, p := range []string{"r-%Y.json", "plain.json", "100%%"} {
		if err := CheckPattern(p); err != nil {
			t.Errorf("CheckPattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{"r-%Q.json", "trailing%"} {
		if err := CheckPattern(p); err == nil {
			t.Errorf("CheckPattern(%q) accepted", p)
		}
	}
	for in, want := range map[string]int64{"0": 0, "512": 512, "8MiB": 8 << 20, "100MB": 100e6, "1g": 1e9, "64 KiB": 64 << 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "8XB", "1.5G"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}
