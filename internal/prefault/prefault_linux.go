package prefault

import (
	"syscall"
	"unsafe"
)

const (
	hugePage         = 2 << 20
	madvHugePage     = 14   // MADV_HUGEPAGE
	madvCollapse     = 0x19 // MADV_COLLAPSE (Linux 6.1)
	madvPopulateRead = 22   // MADV_POPULATE_READ (Linux 5.14)
	mapsBufferLen    = 32 << 10
)

// Result is what the initialiser did.
var Result struct {
	HeapLo, HeapHi uintptr // the heap mappings found
	Advised        bool    // MADV_HUGEPAGE succeeded on them
	Collapsed      int     // their 2 MB ranges collapsed into huge pages
	Populated      uintptr // bytes of the executable's read-only mappings populated
	PopulateErr    error   // the last error populating them
	Skipped        string  // why the heap was left alone, if it was
}

var heapProbe *[64]byte

// exeProbe is read-only data of the executable: a way to find its mappings.
var exeProbe = "portclass prefault"

func init() {
	var buf [mapsBufferLen]byte
	maps := readFile("/proc/self/maps", buf[:])
	heapProbe = new([64]byte) // escapes: a heap address
	var info [4 << 10]byte
	if v, _ := syscall.Getenv("GODEBUG"); disabled(v) {
		Result.Skipped = "GODEBUG=disablethp=1"
	} else if free := freeHugeBlocks(readFile("/proc/buddyinfo", info[:])); free < minFreeHugeBlocks {
		// A huge page would then come from compaction, which can cost more than
		// the faults it saves.
		Result.Skipped = "too few free 2 MB blocks (/proc/buddyinfo)"
	} else if lo, hi, ok := findRun(maps, uintptr(unsafe.Pointer(heapProbe))); ok {
		adviseHeap(lo, hi)
	} else {
		Result.Skipped = "heap mapping not found in /proc/self/maps"
	}
	eachExeMapping(maps, uintptr(unsafe.Pointer(unsafe.StringData(exeProbe))), func(lo, hi uintptr) {
		if err := madvise(lo, hi-lo, madvPopulateRead); err != nil {
			Result.PopulateErr = err
		} else {
			Result.Populated += hi - lo
		}
	})
}

// adviseHeap asks for huge pages on [lo, hi) and collapses the 2 MB ranges of it in
// use. A range with no page yet fails with EINVAL (it needs no collapse: its first
// fault now maps a huge page).
func adviseHeap(lo, hi uintptr) {
	if madvise(lo, hi-lo, madvHugePage) != nil {
		Result.Skipped = "MADV_HUGEPAGE refused"
		return
	}
	Result.HeapLo, Result.HeapHi, Result.Advised = lo, hi, true
	for p := alignUp(lo); p+hugePage <= hi; p += hugePage {
		if madvise(p, hugePage, madvCollapse) == nil {
			Result.Collapsed++
		}
	}
}

// madvise is syscall.Madvise on an address range that no Go value describes (the
// runtime's heap, the executable's mappings).
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

// minFreeHugeBlocks is how many free blocks of 2 MB or more the kernel must have for
// the heap to be given huge pages: a short run uses up to four.
const minFreeHugeBlocks = 16

// freeHugeBlocks counts the free blocks of 2 MB or more in a /proc/buddyinfo text
// ("Node 0, zone Normal n0 n1 ... n10": free blocks of 2^k pages, k = 0..10; 4 KB
// pages, so 2 MB is order 9), over every zone.
func freeHugeBlocks(info []byte) int {
	total := 0
	for len(info) > 0 {
		end := 0
		for end < len(info) && info[end] != '\n' {
			end++
		}
		line := info[:end]
		if end < len(info) {
			end++
		}
		info = info[end:]
		// The counts are the numbers after "zone NAME".
		var counts []int
		for i := 0; i < len(line); {
			for i < len(line) && line[i] == ' ' {
				i++
			}
			if i == len(line) {
				break
			}
			j := i
			for j < len(line) && line[j] != ' ' {
				j++
			}
			if n, ok := decimal(line[i:j]); ok {
				counts = append(counts, n)
			} else {
				counts = counts[:0] // "Node", "0,", "zone", the name
			}
			i = j
		}
		for order := 9; order < len(counts); order++ {
			total += counts[order] << (order - 9)
		}
	}
	return total
}

// decimal parses a non-negative decimal number.
func decimal(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// readFile reads the file at path into buf and returns what it read (nothing if it
// cannot be read).
func readFile(path string, buf []byte) []byte {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if m <= 0 || err != nil {
			break
		}
		n += m
	}
	return buf[:n]
}

// mapping is one line of /proc/PID/maps: "lo-hi perms offset dev inode [path]".
type mapping struct {
	lo, hi uintptr
	perms  []byte
	path   []byte // "" for anonymous memory, or "[anon:name]", "[stack]"...
	anon   bool   // private anonymous read-write memory (offset 0, dev 00:00, inode 0)
}

// eachLine calls f with every complete line of maps, parsed; malformed lines are
// skipped, and a last line cut short by the buffer is ignored.
func eachLine(maps []byte, f func(m *mapping) bool) {
	for {
		end := 0
		for end < len(maps) && maps[end] != '\n' {
			end++
		}
		if end == len(maps) {
			return
		}
		var m mapping
		ok := parseLine(maps[:end], &m)
		maps = maps[end+1:]
		if ok && !f(&m) {
			return
		}
	}
}

// findRun returns the run of adjacent private anonymous read-write mappings of maps
// (addresses in increasing order) that holds addr: the heap the runtime has mapped so
// far around addr (each time the heap grows it adds a mapping).
func findRun(maps []byte, addr uintptr) (lo, hi uintptr, ok bool) {
	var runLo, runHi uintptr // the current run; runHi 0: none
	eachLine(maps, func(m *mapping) bool {
		if m.anon && runHi != 0 && m.lo == runHi {
			runHi = m.hi
			return true
		}
		if runHi != 0 && runLo <= addr && addr < runHi {
			lo, hi, ok = runLo, runHi, true
			return false
		}
		runLo, runHi = 0, 0
		if m.anon {
			runLo, runHi = m.lo, m.hi
		}
		return true
	})
	if !ok && runHi != 0 && runLo <= addr && addr < runHi {
		return runLo, runHi, true
	}
	return lo, hi, ok
}

// eachExeMapping calls f with the bounds of every read-only mapping of the file that
// holds addr (the executable's code and read-only data, for an address in either).
func eachExeMapping(maps []byte, addr uintptr, f func(lo, hi uintptr)) {
	var path []byte
	eachLine(maps, func(m *mapping) bool {
		if m.lo <= addr && addr < m.hi && len(m.path) > 0 && m.path[0] == '/' {
			path = m.path
			return false
		}
		return true
	})
	if path == nil {
		return
	}
	eachLine(maps, func(m *mapping) bool {
		if string(m.path) == string(path) && len(m.perms) == 4 && m.perms[0] == 'r' && m.perms[1] == '-' {
			f(m.lo, m.hi)
		}
		return true
	})
}

// parseLine parses one maps line into m.
func parseLine(line []byte, m *mapping) bool {
	l, rest, ok := hexPrefix(line)
	if !ok || len(rest) == 0 || rest[0] != '-' {
		return false
	}
	h, rest, ok := hexPrefix(rest[1:])
	if !ok || h <= l {
		return false
	}
	f, n := fields(rest)
	if n < 4 {
		return false
	}
	m.lo, m.hi, m.perms = l, h, f[0]
	if n == 5 {
		m.path = f[4]
	}
	m.anon = string(f[0]) == "rw-p" && string(f[2]) == "00:00" && string(f[3]) == "0" &&
		(len(m.path) == 0 || len(m.path) > 6 && string(m.path[:6]) == "[anon:")
	return true
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
