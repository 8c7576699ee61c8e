package pipeline

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portclass/portclass/internal/ipfixread"
	"github.com/portclass/portclass/reports"
)

func TestParseExportTarget(t *testing.T) {
	for _, tt := range []struct{ in, network, addr string }{
		{"collector:4739", "udp", "collector:4739"},
		{"udp://192.0.2.1:2055", "udp", "192.0.2.1:2055"},
		{"TCP://[2001:db8::1]:4739", "tcp", "[2001:db8::1]:4739"},
		{"127.0.0.1:4739", "udp", "127.0.0.1:4739"},
	} {
		n, a, err := ParseExportTarget(tt.in)
		if err != nil || n != tt.network || a != tt.addr {
			t.Errorf("ParseExportTarget(%q) = %q, %q, %v; want %q, %q", tt.in, n, a, err, tt.network, tt.addr)
		}
	}
	for _, bad := range []string{"", "collector", ":4739", "collector:", "sctp://c:4739", "2001:db8::1:4739", "c:no-such-service"} {
		if _, _, err := ParseExportTarget(bad); err == nil {
			t.Errorf("ParseExportTarget(%q): no error", bad)
		}
	}
}

// TestExporterUDP: two summaries exported over one UDP exporter are one stream: the
// second's sequence numbers go on from the first's records, and the counters agree.
func TestExporterUDP(t *testing.T) {
	_, r := read(t, Options{}, "sample.pcapng")
	s, err := r.Summary()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(1 << 20)
	e, err := NewExporter(c.LocalAddr().String(), reports.IPFIXOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 2 {
		if err := e.Export(s); err != nil {
			t.Fatal(err)
		}
	}
	st, n := ipfixread.NewStream(), 0
	buf := make([]byte, 65536)
	for n < 2*int(s.Totals.Flows) {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d records: %v", n, err)
		}
		m, err := st.Decode(buf[:k])
		if err != nil {
			t.Fatal(err) // includes a sequence number that does not go on
		}
		n += len(m.Records)
	}
	if got := e.Stats(); got.RecordsSent != uint64(n) || got.RecordsFailed != 0 || got.MessagesFailed != 0 {
		t.Errorf("stats %+v, want %d records sent, none failed", got, n)
	}
}

// TestExporterTCPReconnect: a TCP collector that is down costs the records of that
// summary (counted as failed); once it listens, the next summary goes out on a new
// connection that starts with the templates and sequence number 0.
func TestExporterTCPReconnect(t *testing.T) {
	_, r := read(t, Options{}, "veeam.pcap")
	s, err := r.Summary()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down
	e, err := NewExporter("tcp://"+addr, reports.IPFIXOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Export(s); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.RecordsFailed != s.Totals.Flows || st.RecordsSent != 0 {
		t.Fatalf("collector down: stats %+v, want %d records failed", st, int(s.Totals.Flows))
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer ln.Close()
	got := make(chan []ipfixread.Message, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		st := ipfixread.NewStream()
		var msgs []ipfixread.Message
		hdr := make([]byte, 16)
		for {
			if _, err := io.ReadFull(conn, hdr); err != nil {
				break
			}
			msg := make([]byte, binary.BigEndian.Uint16(hdr[2:]))
			copy(msg, hdr)
			if _, err := io.ReadFull(conn, msg[16:]); err != nil {
				break
			}
			m, err := st.Decode(msg)
			if err != nil {
				t.Error(err)
				break
			}
			msgs = append(msgs, m)
		}
		got <- msgs
	}()
	if err := e.Export(s); err != nil {
		t.Fatal(err)
	}
	e.Close()
	msgs := <-got
	n := 0
	for _, m := range msgs {
		n += len(m.Records)
	}
	if len(msgs) == 0 || msgs[0].Sequence != 0 || len(msgs[0].Templates) == 0 || n != int(s.Totals.Flows) {
		t.Errorf("after reconnecting: %d messages, %d records (want %d), first sequence and templates: %v", len(msgs), n, int(s.Totals.Flows), msgs)
	}
	for i, m := range msgs[1:] {
		if len(m.Templates) > 0 {
			t.Errorf("message %d repeats the templates over TCP", i+1)
		}
	}
}
