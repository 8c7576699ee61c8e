package reports

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports/internal/termesc"
)

// csvHeader is the CSV header row: the record's JSON field names in record order.
var csvHeader = []string{
	"proto", "client", "server", "vlan", "direction", "state", "first", "last",
	"packets_to_server", "packets_to_client", "bytes_to_server", "bytes_to_client",
	"tcp_flags_to_server", "tcp_flags_to_client", "icmp_type", "icmp_code",
	"port_class", "service", "flags", "veeam", "icmp_errors", "input", "end",
	"iana_service", "tunnel",
}

// CSV writes the summary's flow records as RFC 4180 CSV with a header row (the record's
// JSON field names). List fields are joined with ";": flags, Veeam rule ids, and ICMP
// errors as "icmp 3/3 from 198.51.100.7 count 2". icmp_type and icmp_code are empty for
// flows that are not ICMP.
//
// Every text cell passes through the terminal escaper, and a cell that would start with
// = + - or @ gets a leading ' so that a spreadsheet does not run it as a formula
// (OWASP's CSV injection advice; tab and CR, the other two triggers, are already escaped).
type CSV struct{}

// Encode implements Encoder[*Summary].
func (CSV) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode csv: nil summary")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("encode csv: header: %w", err)
	}
	row := make([]string, len(csvHeader))
	var tb []byte
	n := 0
	err := s.EachFlow(func(r *classify.Flow) error {
		n++
		tb = appendTime(tb[:0], r.First)
		first := string(tb)
		tb = appendTime(tb[:0], r.Last)
		last := string(tb)
		icmpType, icmpCode := "", ""
		if isICMP(r.Proto) {
			icmpType = strconv.FormatUint(uint64(r.ICMPType), 10)
			icmpCode = strconv.FormatUint(uint64(r.ICMPCode), 10)
		}
		rules := make([]string, len(r.Veeam))
		for j, m := range r.Veeam {
			rules[j] = m.ID()
		}
		errs := make([]string, len(r.ICMPErrors))
		for j, e := range r.ICMPErrors {
			errs[j] = icmpErrorString(icmpErrorOf(e))
		}
		toServer, toClient := tcpFlags(r)
		row = append(row[:0],
			csvCell(capture.ProtoName(r.Proto)), csvCell(endpoint(r.Proto, r.Client)), csvCell(endpoint(r.Proto, r.Server)),
			strconv.FormatUint(uint64(r.VLAN), 10),
			csvCell(r.Direction.String()), csvCell(r.State.String()), first, last,
			strconv.FormatUint(r.Flow.Packets[capture.ToServer], 10), strconv.FormatUint(r.Flow.Packets[capture.ToClient], 10),
			strconv.FormatUint(r.Flow.Bytes[capture.ToServer], 10), strconv.FormatUint(r.Flow.Bytes[capture.ToClient], 10),
			csvCell(toServer), csvCell(toClient), icmpType, icmpCode,
			csvCell(r.PortClass.String()), csvCell(r.Service),
			csvCell(strings.Join(r.Flags.Names(), ";")), csvCell(strings.Join(rules, ";")),
			csvCell(strings.Join(errs, ";")), csvCell(r.Input), csvCell(r.End.String()),
			csvCell(r.IANAService),
			csvCell(r.Tunnel.String()),
		)
		return cw.Write(row)
	})
	if err != nil {
		return fmt.Errorf("encode csv: record %d: %w", n, err)
	}
	return flushCSV(cw, bw, "encode csv")
}

// flushCSV flushes a CSV writer and the buffer under it, naming what in an error.
func flushCSV(cw *csv.Writer, bw *bufio.Writer, what string) error {
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// icmpErrorString is the human form of one ICMP error entry, shared by all text formats.
func icmpErrorString(e ICMPError) string {
	proto := "icmp"
	if e.V6 {
		proto = "icmpv6"
	}
	return proto + " " + strconv.FormatUint(uint64(e.Type), 10) + "/" + strconv.FormatUint(uint64(e.Code), 10) +
		" from " + e.From + " count " + strconv.FormatUint(uint64(e.Count), 10)
}

// csvCell escapes a text cell for CSV: terminal escaping, then formula neutralising.
func csvCell(s string) string {
	s = termesc.String(s)
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@':
			return "'" + s
		}
	}
	return s
}
