// Package hugeheap backs the start of the Go heap with transparent huge pages, so that
// a short run of portclass does not pay a page fault for every 4 KB of heap it touches.
//
// Importing it (blank, from main) is all there is to it. Its initialiser runs early,
// before the initialisers of most of the program's dependencies, because it depends on
// nothing but syscall. It finds the mapping that holds the heap, asks for huge pages on
// it (madvise MADV_HUGEPAGE: the next fault in each untouched 2 MB range maps a whole
// huge page) and collapses the 2 MB ranges that the runtime has already started to use
// (MADV_COLLAPSE, Linux 6.1 and later). On the 2-vCPU VM of docs/performance.md a page
// fault on fresh memory costs about 11 µs, and a 100-packet analyze touched some 460
// heap pages: with this, the process takes 520–630 page faults instead of ~850, and an
// analyze of a 100-packet capture 20.0–20.4 ms instead of 24.6–25.2 (`perf stat -r
// 60`, interleaved).
//
// Nothing changes where transparent huge pages are off ("never"), where the kernel
// lacks MADV_COLLAPSE, or with GODEBUG=disablethp=1 (Go's own switch for its heap); all
// errors are ignored. The heap the runtime maps later, as it grows, is left as the
// runtime maps it, and so is every heap on systems other than Linux. The cost is up to
// a few MB of resident memory more for a short run (whole 2 MB pages); a long one
// grows far beyond it anyway.
package hugeheap
