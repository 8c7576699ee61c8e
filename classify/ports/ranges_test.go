package ports

import (
	"strconv"
	"strings"
	"testing"
)

var portRangeCases = []struct {
	in      string
	lo, hi  uint16
	errPart string // "" for success; else a substring the error must contain
}{
	{"6162", 6162, 6162, ""},
	{"2500-3300", 2500, 3300, ""},
	{"0", 0, 0, ""},
	{"65535", 65535, 65535, ""},
	{"0-65535", 0, 65535, ""},
	{"80-80", 80, 80, ""},
	{" 9000 - 9010 ", 9000, 9010, ""},
	{"0080", 80, 80, ""},
	{"", 0, 0, `port range "": missing port number`},
	{"-", 0, 0, `port range "-": missing port number`},
	{"-5", 0, 0, "missing port number"},
	{"5-", 0, 0, `port range "5-": missing port number`},
	{"65536", 0, 0, `port range "65536": 65536 is above 65535`},
	{"1-70000", 0, 0, "70000 is above 65535"},
	{"3300-2500", 0, 0, `port range "3300-2500": starts at 3300, after its end 2500`},
	{"ssh", 0, 0, `port range "ssh": "ssh" is not a port number`},
	{"+22", 0, 0, `"+22" is not a port number`},
	{"1-2-3", 0, 0, `"2-3" is not a port number`},
	{"22,23", 0, 0, `"22,23" is not a port number`},
	{"0x50", 0, 0, `"0x50" is not a port number`},
	{"1_000", 0, 0, `"1_000" is not a port number`},
}

func TestParsePortRange(t *testing.T) {
	for _, tt := range portRangeCases {
		lo, hi, err := ParseRange(tt.in)
		if tt.errPart == "" {
			if err != nil || lo != tt.lo || hi != tt.hi {
				t.Errorf("ParseRange(%q) = %d, %d, %v; want %d, %d", tt.in, lo, hi, err, tt.lo, tt.hi)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.errPart) {
			t.Errorf("ParseRange(%q) error = %v; want it to contain %q", tt.in, err, tt.errPart)
		}
		if lo != 0 || hi != 0 {
			t.Errorf("ParseRange(%q) = %d, %d with an error; want 0, 0", tt.in, lo, hi)
		}
	}
}

// FuzzParsePortRange checks that ParseRange never panics, returns lo <= hi on
// success, agrees with its own output, and quotes the input in its errors.
func FuzzParsePortRange(f *testing.F) {
	for _, tt := range portRangeCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParseRange(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParseRange(%q) error %q does not quote the input", s, err)
			}
			return
		}
		if lo > hi {
			t.Fatalf("ParseRange(%q) = %d, %d: lo > hi", s, lo, hi)
		}
		canon := strconv.Itoa(int(lo)) + "-" + strconv.Itoa(int(hi))
		lo2, hi2, err := ParseRange(canon)
		if err != nil || lo2 != lo || hi2 != hi {
			t.Fatalf("ParseRange(%q) = %d, %d, %v; from %q it gave %d, %d", canon, lo2, hi2, err, s, lo, hi)
		}
		if !strings.Contains(s, "-") && lo != hi {
			t.Fatalf("ParseRange(%q) = %d, %d: a single port gave a range", s, lo, hi)
		}
	})
}

func TestPortRangeContains(t *testing.T) {
	r := Range{"test", 32768, 60999}
	for port, want := range map[uint16]bool{0: false, 32767: false, 32768: true, 45000: true, 60999: true, 61000: false, 65535: false} {
		if got := r.Contains(port); got != want {
			t.Errorf("%+v.Contains(%d) = %v; want %v", r, port, got, want)
		}
	}
}
