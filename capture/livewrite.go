package capture

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/portclass/portclass/capture/pcapng"
)

// pcapngWriter keeps the packets of a live capture in pcapng files (package pcapng's
// Writer, not gopacket's pcapgo: that would link gopacket/layers, whose initialiser
// every invocation would pay), one interface description block per captured
// interface, rotating to a new numbered file when a file reaches maxSize. It is used
// by one goroutine.
type pcapngWriter struct {
	path     string
	maxSize  int64 // 0: never rotate
	maxFiles int   // 0: keep every file
	ifs      []pcapng.Interface
	snaplen  int
	filter   string
	seq      int
	files    []string // written so far, oldest first (only when rotating)
	f        *os.File
	cw       *countWriter
	bw       *bufio.Writer // 4 KiB, over cw
	ng       *pcapng.Writer
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newPcapngWriter(path string, maxSize int64, maxFiles int, ifs []LiveInterface, snaplen int, filter string) (*pcapngWriter, error) {
	w := &pcapngWriter{path: path, maxSize: maxSize, maxFiles: maxFiles, snaplen: snaplen, filter: filter}
	for _, li := range ifs {
		w.ifs = append(w.ifs, w.describe(li))
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// describe returns the interface description block of li.
func (w *pcapngWriter) describe(li LiveInterface) pcapng.Interface {
	desc := fmt.Sprintf("portclass live capture on %s (ifindex %d, snaplen %d)", li.Name, li.Index, w.snaplen)
	if w.filter != "" {
		desc += fmt.Sprintf(", filter %q %s", w.filter, map[bool]string{true: "in the kernel", false: "in portclass"}[li.KernelFilter])
	}
	return pcapng.Interface{
		Name: li.Name, Description: desc, Filter: w.filter, OS: runtime.GOOS,
		LinkType: uint16(li.LinkType), TSResol: 9, Snaplen: uint32(w.snaplen),
	}
}

// addInterface describes an interface opened after the capture started (-i any): its
// id is the next one. The description goes into the current file at once (pcapng
// allows it anywhere before the interface's first packet) and into every later file.
func (w *pcapngWriter) addInterface(li LiveInterface) error {
	d := w.describe(li)
	w.ifs = append(w.ifs, d)
	if _, err := w.ng.AddInterfaceWith(d); err != nil {
		return fmt.Errorf("--write %s: %w", w.name(), err)
	}
	return nil
}

// name is the file name of the current file: path itself, or path with "-NNNN"
// before its extension when rotating.
func (w *pcapngWriter) name() string {
	if w.maxSize <= 0 {
		return w.path
	}
	ext := filepath.Ext(w.path)
	return fmt.Sprintf("%s-%04d%s", strings.TrimSuffix(w.path, ext), w.seq, ext)
}

func (w *pcapngWriter) open() error {
	w.seq++
	name := w.name()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("--write: %w", err)
	}
	w.f, w.cw = f, &countWriter{w: f}
	w.bw = bufio.NewWriter(w.cw)
	w.ng, err = pcapng.NewWriter(w.bw, pcapng.Options{Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "portclass capture"})
	for i := 0; err == nil && i < len(w.ifs); i++ {
		_, err = w.ng.AddInterfaceWith(w.ifs[i])
	}
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("--write %s: %w", name, err)
	}
	if w.maxSize > 0 {
		w.files = append(w.files, name)
		for w.maxFiles > 0 && len(w.files) > w.maxFiles {
			_ = os.Remove(w.files[0])
			w.files = w.files[1:]
		}
	}
	return nil
}

// write appends one packet captured on interface iface (an index into the
// interfaces the writer was made with).
func (w *pcapngWriter) write(rec record, iface int) error {
	// The writer rejects a wire length shorter than the captured bytes, which the
	// kernel should never report; such a packet is kept as captured rather than end
	// the capture.
	if err := w.ng.WritePacket(iface, time.Unix(0, rec.TS), rec.Data, max(rec.WireLen, len(rec.Data))); err != nil {
		return fmt.Errorf("--write %s: %w", w.name(), err)
	}
	// cw.n lags by the buffer (4 KiB): files end within that of maxSize.
	if w.maxSize > 0 && w.cw.n >= w.maxSize {
		if err := w.closeFile(); err != nil {
			return err
		}
		return w.open()
	}
	return nil
}

func (w *pcapngWriter) closeFile() error {
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--write %s: %w", w.name(), err)
	}
	return nil
}
