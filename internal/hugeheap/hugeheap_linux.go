package hugeheap

import (
	"syscall"
	"unsafe"
)

const (
	hugePage      = 2 << 20
	madvHugePage  = 14   // MADV_HUGEPAGE
	madvCollapse  = 0x19 // MADV_COLLAPSE
	mapsBufferLen = 32 << 10
)

// Result is what Advise did so far: the heap mappings it found, whether the kernel
// took the advice, and how many 2 MB ranges are collapsed.
var Result struct {
	Lo, Hi    uintptr
	Advised   bool // MADV_HUGEPAGE succeeded on [Lo, Hi)
	Collapsed int  // 2 MB ranges of [Lo, Hi) collapsed into huge pages (last call)
	Skipped   string
}

var heapProbe *[64]byte

func init() { Advise() }

// Advise asks for huge pages on the heap's mappings and collapses the 2 MB ranges of
// them already in use. The initialiser calls it. Calling it again from main, for the
// heap mapped meanwhile, was measured and gained nothing. It is not safe for
// concurrent use.
func Advise() {
	if v, _ := syscall.Getenv("GODEBUG"); disabled(v) {
		Result.Skipped = "GODEBUG=disablethp=1"
		return
	}
	heapProbe = new([64]byte) // escapes: a heap address
	lo, hi, ok := heapOf(uintptr(unsafe.Pointer(heapProbe)))
	if !ok {
		Result.Skipped = "heap mapping not found in /proc/self/maps"
		return
	}
	if madvise(lo, hi-lo, madvHugePage) != nil {
		Result.Skipped = "MADV_HUGEPAGE refused"
		return
	}
	Result.Lo, Result.Hi, Result.Advised = lo, hi, true
	// Collapse the ranges in use. A range with no page yet fails with EINVAL (it needs
	// no collapse: its first fault now maps a huge page); one already huge returns at
	// once.
	Result.Collapsed = 0
	for p := alignUp(lo); p+hugePage <= hi; p += hugePage {
		if madvise(p, hugePage, madvCollapse) == nil {
			Result.Collapsed++
		}
	}
}

// madvise is syscall.Madvise on an address range of the heap, which the runtime owns
// and no Go value describes.
func madvise(p, n uintptr, advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, p, n, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

func alignUp(p uintptr) uintptr { return (p + hugePage - 1) &^ (hugePage - 1) }

// disabled reports whether the GODEBUG value v turns the runtime's huge pages off.
func disabled(v string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if v[:i] == "disablethp=1" {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}

// heapOf returns the bounds of the run of adjacent private anonymous read-write
// mappings of /proc/self/maps that holds addr: the heap the runtime has mapped so far
// around addr (each time the heap grows it adds a mapping).
func heapOf(addr uintptr) (lo, hi uintptr, ok bool) {
	fd, err := syscall.Open("/proc/self/maps", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, false
	}
	defer syscall.Close(fd)
	var buf [mapsBufferLen]byte
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if m <= 0 || err != nil {
			break
		}
		n += m
	}
	return findRun(buf[:n], addr)
}

// findRun looks for addr in the lines of a /proc/PID/maps text ("lo-hi perms offset
// dev inode [path]", addresses in hex, in increasing order) and returns the run of
// adjacent private anonymous read-write mappings holding it. A last line cut short by
// the buffer is ignored.
func findRun(maps []byte, addr uintptr) (lo, hi uintptr, ok bool) {
	var runLo, runHi uintptr // the current run; runHi 0: none
	holds := func() bool { return runHi != 0 && runLo <= addr && addr < runHi }
	for {
		end := 0
		for end < len(maps) && maps[end] != '\n' {
			end++
		}
		if end == len(maps) {
			break // the end, or a line cut short
		}
		l, h, anon := parseLine(maps[:end])
		maps = maps[end+1:]
		if anon && runHi != 0 && l == runHi {
			runHi = h
			continue
		}
		if holds() {
			return runLo, runHi, true
		}
		runLo, runHi = 0, 0
		if anon {
			runLo, runHi = l, h
		}
	}
	if holds() {
		return runLo, runHi, true
	}
	return 0, 0, false
}

// parseLine returns the bounds of a maps line and whether it is a private anonymous
// read-write mapping (offset 0, device 00:00, inode 0, no path but an [anon:...] name).
func parseLine(line []byte) (lo, hi uintptr, anon bool) {
	l, rest, ok := hexPrefix(line)
	if !ok || len(rest) == 0 || rest[0] != '-' {
		return 0, 0, false
	}
	h, rest, ok := hexPrefix(rest[1:])
	if !ok || h <= l {
		return 0, 0, false
	}
	f, n := fields(rest)
	anon = n >= 4 && string(f[0]) == "rw-p" && string(f[2]) == "00:00" && string(f[3]) == "0" &&
		(n == 4 || len(f[4]) > 6 && string(f[4][:6]) == "[anon:")
	return l, h, anon
}

// fields splits s at runs of spaces into at most 5 fields (the path may hold spaces)
// and returns how many it found.
func fields(s []byte) (f [5][]byte, n int) {
	for n < len(f) {
		for len(s) > 0 && s[0] == ' ' {
			s = s[1:]
		}
		if len(s) == 0 {
			break
		}
		i := len(s)
		if n < len(f)-1 {
			i = 0
			for i < len(s) && s[i] != ' ' {
				i++
			}
		}
		f[n], s = s[:i], s[i:]
		n++
	}
	return f, n
}

// hexPrefix parses the lower-case hexadecimal number s starts with.
func hexPrefix(s []byte) (v uintptr, rest []byte, ok bool) {
	i := 0
	for ; i < len(s) && i < 16; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uintptr(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uintptr(c-'a'+10)
		default:
			return v, s[i:], i > 0
		}
	}
	return v, s[i:], i > 0
}
