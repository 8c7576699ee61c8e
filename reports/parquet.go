package reports

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
)

// Parquet writes the summary's flow records as an Apache Parquet file, one row per
// record, for SQL engines (DuckDB, Trino, Spark SQL, ClickHouse; docs/scale.md). The
// other sections of the summary are not written.
//
// The columns are the flow record's fields (see appendRecord), with the same names
// and meanings: lists are Parquet LISTs (flags of strings; veeam and icmp_errors of
// structs with the NDJSON keys), first and last are TIMESTAMP(NANOS, isAdjustedToUTC),
// counts are INT64, vlan and the ICMP fields INT32, every other field a STRING, and
// icmp_type and icmp_code are null for flows that are not ICMP (NDJSON leaves them
// out), and tunnel is an empty list for flows outside tunnels (NDJSON leaves it out).
// Four columns follow that NDJSON does not have, so that SQL can group by port
// without parsing "addr:port": client_addr, client_port, server_addr, server_port
// (ports 0 for protocols without ports). Strings that are not UTF-8 (names from the
// wire) have their bad bytes replaced by U+FFFD, since Parquet strings are UTF-8.
//
// The file's key/value metadata holds "portclass.schema_version" (the flow record's
// SchemaVersion, as NDJSON lines carry it), "portclass.generator" and
// "portclass.interrupted" ("true" when the run was stopped by a signal: the file holds
// what was read until then).
//
// Columns are zstd-compressed. The timestamps, counts, vlan and ports are encoded
// DELTA_BINARY_PACKED: rows come in time order (capture.CompareFlows), so first's
// deltas are small, and counts and ports take few bits, which makes these columns 2 to
// 20 times smaller before zstd sees them (on the flow-heavy capture: 21.6 MB instead of
// 25.0 MB in all, and 11 % less time to encode). Strings of a few values (proto,
// state, port_class, service ...) are dictionary-encoded. Minimum and maximum
// statistics are written where they can let an engine skip row groups or pages
// (first, last, input, the numbers, the lists), not for the other strings (see
// parquetNoBounds). Rows are written in row groups of at most
// ParquetRowGroup rows, so that the writer holds one row group in memory whatever the
// number of records (they come from Summary.EachFlow, streamed from the spool, or
// from the pass that aggregates the summary: see EncodeFlows). With more than one core
// (and not Serial), the rows are written by a goroutine of their own while the
// records are read (see encodeParquetAhead): the file is the same, byte for byte.
type Parquet struct {
	// Interrupted marks the file as the report of an interrupted run, as the
	// summary's own Interrupted does.
	Interrupted bool
	// RowGroup bounds the rows of a row group (0: ParquetRowGroup).
	RowGroup int
	// Serial keeps the encoding on the calling goroutine (analyze --workers 1).
	Serial bool
}

// ParquetRowGroup is the default number of rows of a Parquet row group: about 10 MB of
// column buffers before compression, and large enough for engines to read columns in
// long runs.
const ParquetRowGroup = 64 << 10

// ParquetSchemaVersionKey and the other keys of the file's key/value metadata.
const (
	ParquetSchemaVersionKey = "portclass.schema_version"
	ParquetGeneratorKey     = "portclass.generator"
	ParquetInterruptedKey   = "portclass.interrupted"
)

// parquetZstd is the columns' codec: zstd at its fastest level. Compression is about a
// third of the encoder's CPU time even so (a profile of the flows capture's 500k
// records: 0.22 of 0.68 s); the default level makes the file 15 % smaller (21.6 MB
// instead of 25.5 MB there), which is not worth more time in a report's critical path.
var parquetZstd = &zstd.Codec{Level: zstd.SpeedFastest}

// parquetNoBounds leaves out the minimum and maximum of the string columns whose bounds
// could never let an engine skip a page or a row group: rows are in time order, so
// every row group holds nearly every protocol, state, port class or service, and
// endpoints come in no order. Computing them (a comparison of strings per value) took
// a tenth of the encoder's CPU time. first and last (in order), input (rotated captures
// come one after the other), the numbers and the lists keep theirs.
var parquetNoBounds = func() parquet.WriterOption {
	var opts writerOptions
	for _, col := range []string{
		"proto", "client", "server", "direction", "state", "tcp_flags_to_server", "tcp_flags_to_client",
		"port_class", "service", "end", "iana_service", "app_protocol", "client_addr", "server_addr",
	} {
		opts = append(opts, parquet.SkipPageBounds(col), parquet.SkipPageStatistics(col))
	}
	return opts
}()

// writerOptions is several parquet.WriterOptions as one.
type writerOptions []parquet.WriterOption

func (o writerOptions) ConfigureWriter(c *parquet.WriterConfig) {
	for _, opt := range o {
		opt.ConfigureWriter(c)
	}
}

// parquetRow is one row: the flow record's fields in the record's order, then the
// split endpoints.
type parquetRow struct {
	Proto            string           `parquet:"proto,dict"`
	Client           string           `parquet:"client"`
	Server           string           `parquet:"server"`
	VLAN             int32            `parquet:"vlan,delta"`
	Direction        string           `parquet:"direction,dict"`
	State            string           `parquet:"state,dict"`
	First            time.Time        `parquet:"first,timestamp(nanosecond:utc),delta"`
	Last             time.Time        `parquet:"last,timestamp(nanosecond:utc),delta"`
	PacketsToServer  int64            `parquet:"packets_to_server,delta"`
	PacketsToClient  int64            `parquet:"packets_to_client,delta"`
	BytesToServer    int64            `parquet:"bytes_to_server,delta"`
	BytesToClient    int64            `parquet:"bytes_to_client,delta"`
	TCPFlagsToServer string           `parquet:"tcp_flags_to_server,dict"`
	TCPFlagsToClient string           `parquet:"tcp_flags_to_client,dict"`
	ICMPType         *int32           `parquet:"icmp_type,optional"`
	ICMPCode         *int32           `parquet:"icmp_code,optional"`
	PortClass        string           `parquet:"port_class,dict"`
	Service          string           `parquet:"service,dict"`
	Flags            []string         `parquet:"flags,list"`
	Veeam            []parquetVeeam   `parquet:"veeam,list"`
	ICMPErrors       []parquetICMPErr `parquet:"icmp_errors,list"`
	Input            string           `parquet:"input,dict"`
	End              string           `parquet:"end,dict"`
	IANAService      string           `parquet:"iana_service,dict"`
	Tunnel           []parquetTunnel  `parquet:"tunnel,list"`
	AppProtocol      string           `parquet:"app_protocol,dict"`
	TLSSNI           *string          `parquet:"tls_sni,optional"`
	TLSALPN          *string          `parquet:"tls_alpn,optional"`
	HTTPHost         *string          `parquet:"http_host,optional"`
	SSHBanner        *string          `parquet:"ssh_banner,optional"`
	Unexpected       []string         `parquet:"unexpected,list"`
	ClientAddr       string           `parquet:"client_addr"`
	ClientPort       int32            `parquet:"client_port,delta"`
	ServerAddr       string           `parquet:"server_addr"`
	ServerPort       int32            `parquet:"server_port,delta"`

	icmp [2]int32  `parquet:"-"` // what ICMPType and ICMPCode point to
	meta [4]string `parquet:"-"` // what TLSSNI ... SSHBanner point to
}

type parquetVeeam struct {
	Rule    string `parquet:"rule"`
	Service string `parquet:"service"`
	From    string `parquet:"from"`
	To      string `parquet:"to"`
}

type parquetICMPErr struct {
	Type  int32  `parquet:"type"`
	Code  int32  `parquet:"code"`
	V6    bool   `parquet:"v6"`
	From  string `parquet:"from"`
	Count int64  `parquet:"count"`
}

// Encode implements Encoder[*Summary].
func (p Parquet) Encode(w io.Writer, s *Summary) error {
	if s == nil {
		return errors.New("encode parquet: nil summary")
	}
	return p.EncodeFlows(w, s.EachFlow, s.Interrupted)
}

// EncodeFlows implements FlowEncoder: the file of the records that flows yields, which
// Encode writes of a summary's. interrupted (or p.Interrupted) marks it interrupted.
func (p Parquet) EncodeFlows(w io.Writer, flows FlowIter, interrupted bool) error {
	group := p.RowGroup
	if group <= 0 {
		group = ParquetRowGroup
	}
	pw := parquet.NewGenericWriter[parquetRow](w,
		parquet.Compression(parquetZstd),
		parquetNoBounds,
		parquet.MaxRowsPerRowGroup(int64(group)),
		parquet.CreatedBy(Generator, "", ""),
		parquet.KeyValueMetadata(ParquetSchemaVersionKey, strconv.Itoa(SchemaVersion)),
		parquet.KeyValueMetadata(ParquetGeneratorKey, Generator),
		parquet.KeyValueMetadata(ParquetInterruptedKey, strconv.FormatBool(p.Interrupted || interrupted)),
	)
	n := 0 // records read, for errors
	var err error
	if p.Serial || runtime.GOMAXPROCS(0) == 1 {
		err = writeParquetRows(pw, func(yield func(*classify.Flow) error) error {
			return flows(func(f *classify.Flow) error { n++; return yield(f) })
		})
	} else {
		err = encodeParquetAhead(pw, flows, &n)
	}
	if err != nil {
		return fmt.Errorf("encode parquet: record %d: %w", n, err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("encode parquet: %w", err)
	}
	return nil
}

// writeParquetRows writes the rows of the flows that each yields to pw, in batches
// that the writer copies into its column buffers: the batch's rows and their lists
// are reused.
func writeParquetRows(pw *parquet.GenericWriter[parquetRow], each FlowIter) error {
	const batch = 256
	rows := make([]parquetRow, batch)
	k := 0
	flush := func() error {
		if k == 0 {
			return nil
		}
		_, err := pw.Write(rows[:k])
		k = 0
		return err
	}
	err := each(func(f *classify.Flow) error {
		setParquetRow(&rows[k], f)
		if k++; k == batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return err
}

// errParquetWriter ends the records' pass once the writing goroutine has failed: the
// error returned is the writer's.
var errParquetWriter = errors.New("parquet writer failed")

// encodeParquetAhead writes the rows of the records flows yields to pw as the serial
// path does, with two cores: the rows are made here, in batches, and written by
// another goroutine, where parquet-go takes them apart into its column buffers and
// encodes and compresses its pages. The file is the serial path's, byte for byte.
// When analyze makes the file in the pass that aggregates the summary (FlowEncoder),
// this goroutine also aggregates, and a third reads the spool and classifies ahead
// (pipeline's recordIter): the encoding no longer waits for the summary nor the summary
// for it. Batches in flight bound the rows held (parquetAhead of parquetBatch rows:
// about a megabyte). *n counts the records read.
func encodeParquetAhead(pw *parquet.GenericWriter[parquetRow], flows FlowIter, n *int) error {
	full := make(chan []parquetRow, parquetAhead)
	free := make(chan []parquetRow, parquetAhead+1)
	failed := make(chan struct{}) // closed when the writer failed
	var werr error                // the writer's error, set before failed is closed or done is
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			if werr == nil {
				if _, werr = pw.Write(b); werr != nil {
					close(failed)
				}
			}
			free <- b[:0]
		}
	}()
	made := 1 // batches made; at most parquetAhead+1, on demand (small inputs make one)
	b := make([]parquetRow, 0, parquetBatch)
	err := flows(func(f *classify.Flow) error {
		*n++
		b = b[:len(b)+1]
		setParquetRow(&b[len(b)-1], f)
		if len(b) < parquetBatch {
			return nil
		}
		select {
		case full <- b:
		case <-failed:
			return errParquetWriter
		}
		select {
		case b = <-free:
		default:
			if made <= parquetAhead {
				made++
				b = make([]parquetRow, 0, parquetBatch)
			} else {
				b = <-free
			}
		}
		return nil
	})
	if err == nil && len(b) > 0 {
		full <- b
	}
	close(full)
	<-done
	if werr != nil && (err == nil || errors.Is(err, errParquetWriter)) {
		return werr
	}
	return err
}

// parquetBatch is the rows handed to the writer at a time, parquetAhead the batches
// that may wait for it.
const (
	parquetBatch = 256
	parquetAhead = 4
)

// setParquetRow makes *r the row of flow f, reusing r's lists.
func setParquetRow(r *parquetRow, f *classify.Flow) {
	*r = parquetRow{
		Proto:           capture.ProtoName(f.Proto),
		VLAN:            int32(f.VLAN),
		Direction:       f.Direction.String(),
		State:           f.State.String(),
		First:           f.First.UTC(),
		Last:            f.Last.UTC(),
		PacketsToServer: int64(f.Flow.Packets[capture.ToServer]),
		PacketsToClient: int64(f.Flow.Packets[capture.ToClient]),
		BytesToServer:   int64(f.Flow.Bytes[capture.ToServer]),
		BytesToClient:   int64(f.Flow.Bytes[capture.ToClient]),
		PortClass:       portClassName(f.PortClass),
		Service:         validUTF8(f.Service),
		Flags:           f.Flags.AppendNames(r.Flags[:0]),
		Veeam:           r.Veeam[:0],
		ICMPErrors:      r.ICMPErrors[:0],
		Input:           validUTF8(f.Input),
		End:             f.End.String(),
		IANAService:     validUTF8(f.IANAService),
		Tunnel:          r.Tunnel[:0],
		AppProtocol:     f.App.String(),
		Unexpected:      f.Unexpected.AppendNames(r.Unexpected[:0]),
	}
	if m := f.AppMeta; m != nil {
		ptrs := [4]**string{&r.TLSSNI, &r.TLSALPN, &r.HTTPHost, &r.SSHBanner}
		for i, fld := range appMetaFields(m) {
			if *fld.v != "" {
				r.meta[i] = validUTF8(*fld.v)
				*ptrs[i] = &r.meta[i]
			}
		}
	}
	for i := range f.Tunnel.Len() {
		t := f.Tunnel.At(i)
		pt := parquetTunnel{Type: t.Type.String()}
		if t.HasID {
			pt.id = int64(t.ID)
			pt.ID = &pt.id
		}
		if t.Client.IsValid() {
			pt.OuterClient, pt.OuterServer = t.Client.String(), t.Server.String()
		}
		r.Tunnel = append(r.Tunnel, pt)
	}
	r.TCPFlagsToServer, r.TCPFlagsToClient = tcpFlags(f)
	if isICMP(f.Proto) {
		r.icmp = [2]int32{int32(f.ICMPType), int32(f.ICMPCode)}
		r.ICMPType, r.ICMPCode = &r.icmp[0], &r.icmp[1]
	}
	for _, m := range f.Veeam {
		rule := m.Rule()
		r.Veeam = append(r.Veeam, parquetVeeam{rule.ID, rule.Service, rule.From, rule.To})
	}
	for _, e := range f.ICMPErrors {
		ie := icmpErrorOf(e)
		r.ICMPErrors = append(r.ICMPErrors, parquetICMPErr{int32(ie.Type), int32(ie.Code), ie.V6, ie.From, int64(ie.Count)})
	}
	// The endpoints are one string (one allocation a row instead of two).
	var buf [2 * len("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")]byte
	b := appendEndpoint(buf[:0], f.Proto, f.Client)
	nc := len(b)
	both := string(appendEndpoint(b, f.Proto, f.Server))
	r.Client, r.Server = both[:nc], both[nc:]
	r.ClientAddr, r.ServerAddr = addrOf(r.Client, f.Proto), addrOf(r.Server, f.Proto)
	if capture.HasPorts(f.Proto) {
		r.ClientPort, r.ServerPort = int32(f.Client.Port()), int32(f.Server.Port())
	}
}

// parquetTunnel is one layer of a row's tunnel list (the record's "tunnel"): id is
// null for layers without one, the outer addresses "" for the path a capture could
// not keep ({"type":"unknown"}).
type parquetTunnel struct {
	Type        string `parquet:"type"`
	ID          *int64 `parquet:"id,optional"`
	OuterClient string `parquet:"outer_client"`
	OuterServer string `parquet:"outer_server"`

	id int64 `parquet:"-"`
}

// addrOf returns the address part of an endpoint string (see endpoint) without
// allocating: "192.0.2.1" of "192.0.2.1:80", "2001:db8::1" of "[2001:db8::1]:80",
// the string itself for protocols without ports.
func addrOf(ep string, proto uint8) string {
	if !capture.HasPorts(proto) || ep == "" {
		return ep
	}
	ep = ep[:strings.LastIndexByte(ep, ':')]
	if len(ep) > 1 && ep[0] == '[' {
		ep = ep[1 : len(ep)-1]
	}
	return ep
}

// validUTF8 returns s with invalid UTF-8 replaced by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
