// Package prefault makes a short run of portclass take fewer page faults. On the
// 2-vCPU VM of docs/performance.md a page fault costs about 11 µs, and most of a
// small analyze's time was page faults.
//
// Importing it (blank, from main) is all there is to it. Its initialiser runs early,
// before those of most of the program's dependencies, because it depends on nothing
// but syscall. It reads /proc/self/maps once, then:
//
//   - asks for transparent huge pages on the mapping that holds the heap (madvise
//     MADV_HUGEPAGE: the next fault in each untouched 2 MB range maps a whole huge page)
//     and collapses the 2 MB ranges the runtime has already started to use
//     (MADV_COLLAPSE, Linux 6.1 and later). A 100-packet analyze touched some 460 heap
//     pages; with this it takes 520–630 page faults instead of ~850, and 20.0–20.4 ms
//     instead of 24.6–25.2 (`perf stat -r 60`, interleaved);
//   - maps the executable's code and read-only data in one call (MADV_POPULATE_READ,
//     Linux 5.14), instead of a fault per 64 KB touched as the run goes: another
//     1.2–2.8 ms (five interleaved `perf stat -r 40` pairs).
//
// The heap is left alone when the kernel has fewer than 16 free blocks of 2 MB
// (/proc/buddyinfo): a huge page would then come from compaction, which can cost more
// than the faults it saves. Nothing changes where transparent huge pages are off
// ("never") or the kernel lacks the advice; errors are ignored. GODEBUG=disablethp=1 (Go's own switch for its heap's
// huge pages) leaves the heap alone. The heap the runtime maps later, as it grows, is
// left as the runtime maps it, and so is everything on systems other than Linux. The
// costs: up to a few MB of resident memory more for a short run (whole 2 MB pages, and
// the executable's pages counted as resident), and, when the executable is not in the
// page cache, reading all of it (~12 MB) at start instead of the parts used.
package prefault
