package prefault

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

func TestFindRun(t *testing.T) {
	maps := []byte(`00400000-00b41000 r-xp 00000000 fe:00 9978202                            /tmp/portclass
01307000-013f1000 rw-p 00f07000 fe:00 9978202                            /tmp/portclass
013f1000-0344f000 rw-p 00000000 00:00 0
garbage line
3195c8000000-3195cac00000 ---p 00000000 00:00 0
3195cac00000-3195cb000000 rw-p 00000000 00:00 0
3195cb000000-3195cb400000 rw-p 00000000 00:00 0                          [anon: Go: heap]
3195cb400000-3195cb800000 rw-p 00000000 00:00 0
3195cb800000-3195cc000000 ---p 00000000 00:00 0
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
7f0000001000-7f0000002000 rw-s 00000000 00:01 1234                       /dev/shm/x y
7f0000002000-7f0000003000 rw-p 00000000 00:00 0
7ffd8c95b000-7ffd8c97c000 rw-p 00000000 00:00 0                          [stack]
7fff00000000-7fff00001000 rw-p 0000`)
	for _, c := range []struct {
		addr   uintptr
		lo, hi uintptr
		ok     bool
	}{
		{0x400000, 0, 0, false},                                // the binary's text
		{0x1307000, 0, 0, false},                               // its data: file-backed
		{0x13f1000, 0x13f1000, 0x344f000, true},                // its bss: anonymous
		{0x3195cac00000, 0x3195cac00000, 0x3195cb800000, true}, // three adjacent mappings
		{0x3195cb3fffff, 0x3195cac00000, 0x3195cb800000, true},
		{0x3195cb7fffff, 0x3195cac00000, 0x3195cb800000, true},
		{0x3195cb800000, 0, 0, false}, // reserved, not mapped
		{0x3195c0000000, 0, 0, false}, // between mappings
		{0x7f0000000800, 0x7f0000000000, 0x7f0000001000, true},
		{0x7f0000001800, 0, 0, false}, // shared
		{0x7f0000002800, 0x7f0000002000, 0x7f0000003000, true},
		{0x7ffd8c95b000, 0, 0, false}, // [stack] is not a heap
		{0x7fff00000000, 0, 0, false}, // on the line cut short
	} {
		lo, hi, ok := findRun(maps, c.addr)
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("findRun(%#x) = %#x, %#x, %v; want %#x, %#x, %v", c.addr, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
	if _, _, ok := findRun([]byte("zz-10 rw-p 0 00:00 0\n10-zz rw-p 0 00:00 0\n20-10 rw-p 0 00:00 0\n"), 0x15); ok {
		t.Error("malformed lines gave a mapping")
	}
}

func TestEachExeMapping(t *testing.T) {
	maps := []byte(`00400000-00b41000 r-xp 00000000 fe:00 9978202                            /usr/bin/port class
00b41000-01307000 r--p 00741000 fe:00 9978202                            /usr/bin/port class
01307000-013f1000 rw-p 00f07000 fe:00 9978202                            /usr/bin/port class
013f1000-0344f000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 fe:00 12                         /usr/lib/other
`)
	var got [][2]uintptr
	eachExeMapping(maps, 0xb41234, func(lo, hi uintptr) { got = append(got, [2]uintptr{lo, hi}) })
	want := [][2]uintptr{{0x400000, 0xb41000}, {0xb41000, 0x1307000}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read-only mappings of the executable: %x, want %x", got, want)
	}
	got = nil
	eachExeMapping(maps, 0x13f2000, func(lo, hi uintptr) { got = append(got, [2]uintptr{lo, hi}) })
	if got != nil {
		t.Errorf("an anonymous address gave mappings %x", got)
	}
}

func TestFreeHugeBlocks(t *testing.T) {
	info := []byte(`Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 
Node 0, zone    DMA32      2      3      0      2      3      2      1      4      4      2    752 
Node 0, zone   Normal   8538   4147   1127    963    518    386    110     41     94    398   1381 
`)
	// order 9 counts once, order 10 twice: 1+2*3 + 2+2*752 + 398+2*1381
	if got, want := freeHugeBlocks(info), 1+6+2+1504+398+2762; got != want {
		t.Errorf("freeHugeBlocks = %d, want %d", got, want)
	}
	if got := freeHugeBlocks([]byte("Node 0, zone Normal 5 4 3\ngarbage\n")); got != 0 {
		t.Errorf("no order 9 or 10: %d", got)
	}
	if got := freeHugeBlocks(nil); got != 0 {
		t.Errorf("empty: %d", got)
	}
}

func TestDisabled(t *testing.T) {
	for v, want := range map[string]bool{
		"":                            false,
		"disablethp=1":                true,
		"gctrace=1,disablethp=1":      true,
		"disablethp=1,madvdontneed=1": true,
		"disablethp=0":                false,
		"xdisablethp=1":               false,
		"disablethp=10":               false,
	} {
		if got := disabled(v); got != want {
			t.Errorf("disabled(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestAdvised checks, in this test binary (whose start ran the initialiser), that the
// kernel took the advice: the heap mapping is flagged for huge pages, the ranges
// counted as collapsed are backed by huge pages, and the executable's read-only
// mappings were populated.
func TestAdvised(t *testing.T) {
	switch {
	case errors.Is(Result.PopulateErr, syscall.EINVAL):
		t.Logf("MADV_POPULATE_READ unknown to this kernel (Linux 5.14 and later): %+v", Result)
	case Result.Populated == 0 || Result.PopulateErr != nil:
		t.Errorf("the executable's mappings were not all populated: %+v", Result)
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || bytes.Contains(mode, []byte("[never]")) {
		t.Skipf("transparent huge pages unavailable (%q, %v)", bytes.TrimSpace(mode), err)
	}
	if Result.Skipped != "" {
		if strings.Contains(Result.Skipped, "buddyinfo") {
			t.Skipf("heap left alone: %s", Result.Skipped)
		}
		t.Fatalf("initialiser skipped the heap: %s", Result.Skipped)
	}
	p := uintptr(unsafe.Pointer(heapProbe))
	if !Result.Advised || p < Result.HeapLo || p >= Result.HeapHi {
		t.Fatalf("result %+v, heap probe at %#x", Result, p)
	}
	flags, anonHuge := smapsOf(t, Result.HeapLo)
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("heap mapping %#x-%#x: VmFlags %q lack hg (MADV_HUGEPAGE)", Result.HeapLo, Result.HeapHi, flags)
	}
	t.Logf("heap mapping %#x-%#x: %d range(s) collapsed, AnonHugePages %d kB; %d bytes of the executable populated",
		Result.HeapLo, Result.HeapHi, Result.Collapsed, anonHuge, Result.Populated)
	if Result.Collapsed > 0 && anonHuge == 0 {
		t.Errorf("%d range(s) collapsed but AnonHugePages is 0", Result.Collapsed)
	}
}

// smapsOf returns the VmFlags and AnonHugePages (kB) of the mapping at lo.
func smapsOf(t *testing.T, lo uintptr) (flags string, anonHuge int) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	head := fmt.Sprintf("%x-", lo)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, head):
			in = true
		case in && strings.HasPrefix(line, "AnonHugePages:"):
			fmt.Sscanf(strings.TrimPrefix(line, "AnonHugePages:"), "%d", &anonHuge)
		case in && strings.HasPrefix(line, "VmFlags:"):
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:")), anonHuge
		}
	}
	t.Fatalf("mapping %#x not in /proc/self/smaps", lo)
	return "", 0
}
