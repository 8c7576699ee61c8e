package pipeline

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// An Exporter sends the flow records of summaries to an IPFIX collector (RFC 7011)
// over UDP or TCP, as reports.IPFIXWriter builds the messages. It is the sink of
// analyze --ipfix (one summary at the end of the run) and of capture --ipfix (the
// summary of every report interval: status records of open flows carry the counts
// since their previous record, as in the reports, so a collector's sums equal the
// reports').
//
// Delivery never fails a run. A collector that is down, refuses or cannot be
// resolved costs the messages it missed, not the report: Export counts them (Stats,
// and the live session's Prometheus metrics) and logs one warning per summary. Over
// UDP the kernel learns that nobody listens from an ICMP port unreachable and reports
// it on a later send (ECONNREFUSED), so about every other message to a closed port is
// counted as failed and the others are lost unseen; the sequence numbers let the
// collector count those. Over TCP a refused or broken connection drops the rest of the
// summary and is tried again at the next one, with the templates and a sequence
// number of 0, as a new transport session starts.
//
// An Exporter is safe for use by one goroutine at a time; Stats may be called from
// any goroutine.
type Exporter struct {
	network, addr string // "udp" or "tcp", host:port
	o             reports.IPFIXOptions
	log           zerolog.Logger

	conn net.Conn
	w    *reports.IPFIXWriter // the stream of messages of conn; nil when not connected

	// counters, read by Stats from other goroutines
	msgsSent, msgsFailed, recsSent, recsFailed atomic.Uint64

	batchErr    error // the first delivery error of the summary being exported
	batchFailed int   // messages of it not delivered
	lastFailed  bool  // the previous summary had delivery errors
}

// ExportStats counts what an Exporter sent.
type ExportStats struct {
	MessagesSent, MessagesFailed uint64 // messages handed to the network / that failed
	RecordsSent, RecordsFailed   uint64 // data records in them
}

// Timeouts of an exporter's TCP connection.
const (
	exportDialTimeout  = 5 * time.Second
	exportWriteTimeout = 10 * time.Second
)

// ParseExportTarget reads a collector address: HOST:PORT for UDP, udp://HOST:PORT or
// tcp://HOST:PORT. HOST may be a name, an IPv4 address or a bracketed IPv6 address.
func ParseExportTarget(target string) (network, addr string, err error) {
	network, addr = "udp", target
	if scheme, rest, ok := strings.Cut(target, "://"); ok {
		network, addr = strings.ToLower(scheme), rest
		if network != "udp" && network != "tcp" {
			return "", "", fmt.Errorf("--ipfix %s: unknown transport %q: want HOST:PORT (UDP), udp://HOST:PORT or tcp://HOST:PORT", target, scheme)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return "", "", fmt.Errorf("--ipfix %s: want HOST:PORT, e.g. collector.example.net:4739 or [2001:db8::1]:4739", target)
	}
	if _, err := net.LookupPort(network, port); err != nil {
		return "", "", fmt.Errorf("--ipfix %s: port %q: %w", target, port, err)
	}
	return network, addr, nil
}

// NewExporter checks the target (see ParseExportTarget) and the options; it does not
// connect: the first Export does, and a collector that cannot be reached then is a
// warning, not an error. Over TCP and UDP alike, templates are sent with the first
// message; over UDP also again as o asks (zero TemplateEvery and TemplateInterval:
// the defaults of reports), since a UDP collector that restarts has lost them.
func NewExporter(target string, o reports.IPFIXOptions, log zerolog.Logger) (*Exporter, error) {
	network, addr, err := ParseExportTarget(target)
	if err != nil {
		return nil, err
	}
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("--ipfix: %w", err)
	}
	if network == "udp" {
		if o.TemplateEvery == 0 {
			o.TemplateEvery = reports.DefaultIPFIXTemplateEvery
		}
		if o.TemplateInterval == 0 {
			o.TemplateInterval = reports.DefaultIPFIXTemplateInterval
		}
	} else {
		o.TemplateEvery, o.TemplateInterval = 0, 0 // once per connection (RFC 7011 §8.3)
	}
	return &Exporter{network: network, addr: addr, o: o, log: log.With().Str("component", "ipfix").Logger()}, nil
}

// Target is the collector as "udp://HOST:PORT" or "tcp://HOST:PORT".
func (e *Exporter) Target() string { return e.network + "://" + e.addr }

// Stats returns the counts so far.
func (e *Exporter) Stats() ExportStats {
	return ExportStats{e.msgsSent.Load(), e.msgsFailed.Load(), e.recsSent.Load(), e.recsFailed.Load()}
}

// Export sends every flow record of s. Delivery errors are counted and logged, not
// returned: the error is that of reading the records (the spool).
func (e *Exporter) Export(s *reports.Summary) error {
	e.batchErr, e.batchFailed = nil, 0
	before := e.Stats()
	if e.conn == nil {
		e.connect()
	} else if e.lastFailed && e.w != nil {
		// The collector was down or refused: if it came back, it has no templates.
		e.w.ResendTemplates()
	}
	err := s.EachFlow(func(f *classify.Flow) error {
		if e.w == nil { // not connected (TCP refused, a name that does not resolve)
			e.recsFailed.Add(1)
			return nil
		}
		return e.w.Add(f)
	})
	if err != nil {
		return fmt.Errorf("ipfix export: %w", err)
	}
	if e.w != nil {
		_ = e.w.Flush() // send never fails the writer
	}
	e.lastFailed = e.batchErr != nil
	after := e.Stats()
	ev := e.log.Info()
	msg := "flow records exported"
	if e.batchErr != nil {
		ev = e.log.Warn().Err(e.batchErr).Int("messages_failed", e.batchFailed)
		msg = "the IPFIX collector did not take every message (the reports are complete)"
	}
	ev.Str("collector", e.Target()).Uint64("records", after.RecordsSent-before.RecordsSent).
		Uint64("records_failed", after.RecordsFailed-before.RecordsFailed).Msg(msg)
	return nil
}

// connect opens the socket (UDP: a connected socket, so that ICMP errors come back as
// send errors) and starts a new stream of messages. A failure is the batch's error.
func (e *Exporter) connect() {
	d := net.Dialer{Timeout: exportDialTimeout}
	c, err := d.Dial(e.network, e.addr)
	if err != nil {
		e.note(err)
		return
	}
	e.conn = c
	e.w = reports.NewIPFIXWriter(e.o, e.send)
}

// send delivers one message of records data records (the IPFIXWriter's emit). Each
// message is one write: over UDP one datagram, over TCP a write with a deadline, so
// that a collector that stops reading cannot stall the capture's reports.
func (e *Exporter) send(msg []byte, records int) error {
	if e.conn == nil { // TCP, dropped earlier in this summary
		e.msgsFailed.Add(1)
		e.recsFailed.Add(uint64(records))
		return nil
	}
	if e.network == "tcp" {
		_ = e.conn.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	}
	if _, err := e.conn.Write(msg); err != nil {
		e.note(err)
		e.batchFailed++
		e.msgsFailed.Add(1)
		e.recsFailed.Add(uint64(records))
		if e.network == "tcp" {
			_ = e.conn.Close()
			e.conn = nil // the writer's other messages of this summary fail above
		}
		return nil // not the writer's error: UDP goes on, TCP reconnects next time
	}
	e.msgsSent.Add(1)
	e.recsSent.Add(uint64(records))
	return nil
}

// note keeps the first delivery error of the summary being exported.
func (e *Exporter) note(err error) {
	if e.batchErr == nil {
		e.batchErr = err
	}
}

// Close sends nothing more and closes the socket.
func (e *Exporter) Close() error {
	if e.w != nil {
		_ = e.w.Flush()
	}
	e.w = nil
	if e.conn == nil {
		return nil
	}
	err := e.conn.Close()
	e.conn = nil
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
