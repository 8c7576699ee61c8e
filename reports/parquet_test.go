package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	pqformat "github.com/parquet-go/parquet-go/format"

	"github.com/portclass/portclass/classify"
)

// readParquet reads a file written by Parquet back: its rows, its key/value metadata
// and the number of rows of each row group.
func readParquet(t *testing.T, b []byte) ([]parquetRow, map[string]string, []int64) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, kv := range f.Metadata().KeyValueMetadata {
		meta[kv.Key] = kv.Value
	}
	var groups []int64
	for _, rg := range f.RowGroups() {
		groups = append(groups, rg.NumRows())
	}
	r := parquet.NewGenericReader[parquetRow](bytes.NewReader(b))
	defer r.Close()
	rows := make([]parquetRow, r.NumRows())
	if n, err := r.Read(rows); n != len(rows) || (err != nil && !errors.Is(err, io.EOF)) {
		t.Fatalf("read %d of %d rows: %v", n, len(rows), err)
	}
	return rows, meta, groups
}

// TestParquetRecords writes the fixture and reads every row back: one row per flow
// record, each column the NDJSON field of the same name (compared through JSON, so
// that the two formats are held to one meaning), the split endpoints, and the
// metadata.
func TestParquetRecords(t *testing.T) {
	s := fixtureSummary(0)
	s.Flows = append(s.Flows, tunnelRecords(t)...)
	var buf bytes.Buffer
	if err := (Parquet{}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	rows, meta, _ := readParquet(t, buf.Bytes())
	if len(rows) != len(s.Flows) {
		t.Fatalf("%d rows, want %d", len(rows), len(s.Flows))
	}
	if meta[ParquetSchemaVersionKey] != "1" || meta[ParquetGeneratorKey] != Generator || meta[ParquetInterruptedKey] != "false" {
		t.Errorf("metadata %v", meta)
	}
	for i := range rows {
		var want map[string]any
		if err := json.Unmarshal(appendRecord(nil, &s.Flows[i], false), &want); err != nil {
			t.Fatal(err)
		}
		r := rows[i]
		got := map[string]any{
			"proto": r.Proto, "client": r.Client, "server": r.Server, "vlan": float64(r.VLAN), "direction": r.Direction,
			"state": r.State, "first": r.First.Format(TimeLayout), "last": r.Last.Format(TimeLayout),
			"packets_to_server": float64(r.PacketsToServer), "packets_to_client": float64(r.PacketsToClient),
			"bytes_to_server": float64(r.BytesToServer), "bytes_to_client": float64(r.BytesToClient),
			"tcp_flags_to_server": r.TCPFlagsToServer, "tcp_flags_to_client": r.TCPFlagsToClient,
			"port_class": r.PortClass, "service": r.Service, "input": r.Input, "end": r.End,
			"iana_service": r.IANAService, "app_protocol": r.AppProtocol,
		}
		for name, v := range map[string]*string{"tls_sni": r.TLSSNI, "tls_alpn": r.TLSALPN, "http_host": r.HTTPHost, "ssh_banner": r.SSHBanner} {
			if v != nil {
				got[name] = *v
			}
		}
		if len(r.Unexpected) > 0 {
			var rs []any
			for _, u := range r.Unexpected {
				rs = append(rs, u)
			}
			got["unexpected"] = rs
		}
		if len(r.Tunnel) > 0 {
			var layers []any
			for _, l := range r.Tunnel {
				m := map[string]any{"type": l.Type}
				if l.ID != nil {
					m["id"] = float64(*l.ID)
				}
				if l.OuterClient != "" {
					m["outer_client"], m["outer_server"] = l.OuterClient, l.OuterServer
				}
				layers = append(layers, m)
			}
			got["tunnel"] = layers
		}
		if r.ICMPType != nil {
			got["icmp_type"], got["icmp_code"] = float64(*r.ICMPType), float64(*r.ICMPCode)
		}
		flags := []any{}
		for _, f := range r.Flags {
			flags = append(flags, f)
		}
		got["flags"] = flags
		veeam := []any{}
		for _, v := range r.Veeam {
			veeam = append(veeam, map[string]any{"rule": v.Rule, "service": v.Service, "from": v.From, "to": v.To})
		}
		got["veeam"] = veeam
		errs := []any{}
		for _, e := range r.ICMPErrors {
			m := map[string]any{"type": float64(e.Type), "code": float64(e.Code), "from": e.From, "count": float64(e.Count)}
			if e.V6 {
				m["v6"] = true
			}
			errs = append(errs, m)
		}
		got["icmp_errors"] = errs
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("row %d:\n got %s\nwant %s", i, gj, wj)
		}
		f := &s.Flows[i]
		if r.ClientAddr != f.Client.Addr().String() || r.ServerAddr != f.Server.Addr().String() {
			t.Errorf("row %d: client_addr %q, server_addr %q; want %v, %v", i, r.ClientAddr, r.ServerAddr, f.Client.Addr(), f.Server.Addr())
		}
		if int(r.ClientPort) != int(f.Client.Port()) || int(r.ServerPort) != int(f.Server.Port()) {
			t.Errorf("row %d: ports %d, %d; want %d, %d", i, r.ClientPort, r.ServerPort, f.Client.Port(), f.Server.Port())
		}
	}
}

// TestParquetRowGroups: rows go out in row groups of at most RowGroup rows, so the
// writer holds one group whatever the number of records; Interrupted is in the
// metadata; strings that are not UTF-8 are made so.
func TestParquetRowGroups(t *testing.T) {
	s := benchSummary(2500)
	var buf bytes.Buffer
	if err := (Parquet{RowGroup: 1000, Interrupted: true}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	rows, meta, groups := readParquet(t, buf.Bytes())
	if len(rows) != 2500 || len(groups) != 3 || groups[0] != 1000 || groups[2] != 500 {
		t.Errorf("%d rows in row groups %v, want 2500 in [1000 1000 500]", len(rows), groups)
	}
	if meta[ParquetInterruptedKey] != "true" {
		t.Errorf("interrupted run: metadata %v", meta)
	}
	// The summary's own mark (a merge of an interrupted summary) does the same.
	s.MarkInterrupted("interrupted by SIGINT")
	buf.Reset()
	if err := (Parquet{}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	if _, meta, _ := readParquet(t, buf.Bytes()); meta[ParquetInterruptedKey] != "true" {
		t.Errorf("interrupted summary: metadata %v", meta)
	}

	r := fixtureRecords()[0]
	r.Service = "a\xff\xfeb"
	agg := NewAggregator(Options{})
	agg.Add(&r)
	buf.Reset()
	if err := (Parquet{}).Encode(&buf, agg.Summary()); err != nil {
		t.Fatal(err)
	}
	if rows, _, _ = readParquet(t, buf.Bytes()); rows[0].Service != "a\uFFFDb" {
		t.Errorf("service %q, want %q", rows[0].Service, "a\uFFFDb")
	}
}

// TestParquetEmpty: a summary without records is a valid file without rows.
func TestParquetEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := (Parquet{}).Encode(&buf, NewAggregator(Options{}).Summary()); err != nil {
		t.Fatal(err)
	}
	if rows, meta, _ := readParquet(t, buf.Bytes()); len(rows) != 0 || meta[ParquetSchemaVersionKey] != "1" {
		t.Errorf("%d rows, metadata %v", len(rows), meta)
	}
}

// TestParquetIterError: an error of the record iterator (a spool that cannot be read)
// is the encoder's error, with the record it came at.
func TestParquetIterError(t *testing.T) {
	s := fixtureSummary(0)
	boom := errors.New("spool: read error")
	s.SetFlowIter(func(yield func(*classify.Flow) error) error {
		r := fixtureRecords()[0]
		if err := yield(&r); err != nil {
			return err
		}
		return boom
	})
	err := (Parquet{}).Encode(io.Discard, s)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "record 1") {
		t.Errorf("error %v, want the iterator's, at record 1", err)
	}
}

// TestParquetSerial: the encoding on two goroutines (rows made on one, written on the
// other) and the serial one (--workers 1) write the same file, whether the records
// end inside a batch of rows, on a batch's boundary or on a row group's, and with
// more batches than may wait for the writer.
func TestParquetSerial(t *testing.T) {
	for _, n := range []int{0, 1, parquetBatch - 1, parquetBatch, 999, 1000, 1500, 2000, 2500, 4000} {
		s := benchSummary(n)
		s.Flows = append(s.Flows, tunnelRecords(t)...)
		var serial, pairs bytes.Buffer // pairs: the encoding on two goroutines
		if err := (Parquet{RowGroup: 1000, Serial: true}).Encode(&serial, s); err != nil {
			t.Fatal(err)
		}
		if err := (Parquet{RowGroup: 1000}).Encode(&pairs, s); err != nil {
			t.Fatal(err)
		}
		// parquet-go copies the row groups as they were written: the same bytes.
		if !bytes.Equal(serial.Bytes(), pairs.Bytes()) {
			t.Errorf("%d records: %d bytes serially, %d on two goroutines, or different bytes", len(s.Flows), serial.Len(), pairs.Len())
		}
		rows, meta, groups := readParquet(t, serial.Bytes())
		prows, pmeta, pgroups := readParquet(t, pairs.Bytes())
		if len(rows) != len(s.Flows) || !reflect.DeepEqual(rows, prows) {
			t.Errorf("%d records: %d rows serially, %d on two goroutines, or different rows", len(s.Flows), len(rows), len(prows))
		}
		if !reflect.DeepEqual(meta, pmeta) || !reflect.DeepEqual(groups, pgroups) {
			t.Errorf("%d records: metadata %v, row groups %v serially; %v, %v on two goroutines", len(s.Flows), meta, groups, pmeta, pgroups)
		}
	}
}

// failingWriter fails every write after its first n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		k := w.n
		w.n = 0
		return k, errDiskFull
	}
	w.n -= len(b)
	return len(b), nil
}

var errDiskFull = errors.New("no space left on device")

// TestParquetWriteError: an error of the output in the middle of the file (a full
// disk) is the encoder's error, on one goroutine or two, and no goroutine is left
// behind, nor when the records fail while the writing goroutine has rows to write.
func TestParquetWriteError(t *testing.T) {
	s := benchSummary(4500)
	before := runtime.NumGoroutine()
	for _, serial := range []bool{true, false} {
		for _, at := range []int{0, 10, 20 << 10, 60 << 10} {
			err := (Parquet{RowGroup: 1000, Serial: serial}).Encode(&failingWriter{n: at}, s)
			if !errors.Is(err, errDiskFull) {
				t.Errorf("serial %v, output full after %d bytes: error %v", serial, at, err)
			}
		}
	}
	boom := errors.New("spool: read error")
	for _, at := range []int{500, 1000, 1500, 2000, 2500} {
		s.SetFlowIter(func(yield func(*classify.Flow) error) error {
			r := fixtureRecords()[0]
			for range at {
				if err := yield(&r); err != nil {
					return err
				}
			}
			return boom
		})
		if err := (Parquet{RowGroup: 1000}).Encode(io.Discard, s); !errors.Is(err, boom) {
			t.Errorf("records failing after %d: error %v", at, err)
		}
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines after the encoders, %d before", runtime.NumGoroutine(), before)
}

// TestParquetColumnChunks: the column chunks are zstd-compressed; the timestamps,
// counts and ports delta-encoded; first, last, input and the numbers carry their
// minimum and maximum, and the strings whose bounds could not prune a time-ordered file
// (parquetNoBounds) carry none.
func TestParquetColumnChunks(t *testing.T) {
	s := fixtureSummary(0)
	var buf bytes.Buffer
	if err := (Parquet{}).Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	bounded := map[string]bool{"first": true, "last": true, "input": true, "packets_to_server": true, "server_port": true, "vlan": true,
		"proto": false, "client": false, "server_addr": false, "state": false, "service": false, "port_class": false}
	delta := map[string]bool{"first": true, "last": true, "packets_to_server": true, "bytes_to_client": true, "client_port": true, "server_port": true, "vlan": true}
	seen := 0
	for _, c := range f.Metadata().RowGroups[0].Columns {
		md := c.MetaData
		name := strings.Join(md.PathInSchema, ".")
		if md.Codec.String() != "ZSTD" {
			t.Errorf("%s: codec %v", name, md.Codec)
		}
		if d, ok := delta[name]; ok && d != slices.ContainsFunc(md.Encoding, func(e pqformat.Encoding) bool { return e == pqformat.DeltaBinaryPacked }) {
			t.Errorf("%s: encodings %v, want DELTA_BINARY_PACKED", name, md.Encoding)
		}
		want, ok := bounded[name]
		if !ok {
			continue
		}
		seen++
		if has := md.Statistics.MinValue != nil && md.Statistics.MaxValue != nil; has != want {
			t.Errorf("%s: bounds %v, want %v (min %q max %q)", name, has, want, md.Statistics.MinValue, md.Statistics.MaxValue)
		}
	}
	if seen != len(bounded) {
		t.Errorf("%d of the %d columns checked found", seen, len(bounded))
	}
}
