package duckdbtest

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// root is the portclass module root, two directories up.
var root = filepath.Join("..", "..")

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// portclass returns the binary under test: $PORTCLASS_BIN, or one built from the
// module root (CGO_ENABLED=0, as make build does).
func portclass(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("PORTCLASS_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "portclass-duckdbtest-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "portclass")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/portclass")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/portclass: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// run runs portclass with args and fails the test unless it exits 0.
func run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(portclass(t), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("portclass %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// captures are the bundled captures the tests use: the project's own and a few of
// its format test files (IPv6, ICMP, SCTP and other protocols, VLAN, fragments).
func captures(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, name := range []string{"sample.pcapng", "veeam.pcap", "veeam-firewall.pcap", "veeam-after.pcap",
		"formats/ipv6-ext.pcap", "formats/ipv4-frag.pcap", "formats/vlan-qinq.pcap", "formats/protos.pcap"} {
		p := filepath.Join(root, "testdata", name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		out = append(out, p)
	}
	if len(out) < 4 {
		t.Fatalf("only %d bundled captures found under %s", len(out), filepath.Join(root, "testdata"))
	}
	return out
}

// record is the part of an NDJSON flow record the checks sum.
type record struct {
	PacketsToServer uint64   `json:"packets_to_server"`
	PacketsToClient uint64   `json:"packets_to_client"`
	BytesToServer   uint64   `json:"bytes_to_server"`
	BytesToClient   uint64   `json:"bytes_to_client"`
	PortClass       string   `json:"port_class"`
	Proto           string   `json:"proto"`
	Flags           []string `json:"flags"`
	Veeam           []any    `json:"veeam"`
	First           string   `json:"first"`
}

// totals are what both sides must agree on.
type totals struct {
	Rows, Packets, Bytes, Flags, Veeam int64
	Classes                            string // distinct port classes, sorted, joined by ","
	First                              string // the earliest first packet, RFC 3339 in UTC
}

func ndjsonTotals(t *testing.T, path string) totals {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tot totals
	classes := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tot.Rows++
		tot.Packets += int64(r.PacketsToServer + r.PacketsToClient)
		tot.Bytes += int64(r.BytesToServer + r.BytesToClient)
		tot.Flags += int64(len(r.Flags))
		tot.Veeam += int64(len(r.Veeam))
		classes[r.PortClass] = true
		if tot.First == "" || r.First < tot.First {
			tot.First = r.First
		}
	}
	var cs []string
	for c := range classes {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	tot.Classes = strings.Join(cs, ",")
	return tot
}

func parquetTotals(t *testing.T, db *sql.DB, from string) totals {
	t.Helper()
	var tot totals
	var first sql.NullString
	q := `SELECT count(*), coalesce(sum(packets_to_server + packets_to_client), 0), coalesce(sum(bytes_to_server + bytes_to_client), 0),
	        coalesce(sum(len(flags)), 0), coalesce(sum(len(veeam)), 0),
	        strftime(min(first) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%n') || 'Z'
	      FROM ` + from
	if err := db.QueryRow(q).Scan(&tot.Rows, &tot.Packets, &tot.Bytes, &tot.Flags, &tot.Veeam, &first); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	tot.First = first.String
	rows, err := db.Query(`SELECT DISTINCT port_class FROM ` + from + ` ORDER BY port_class`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cs []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	tot.Classes = strings.Join(cs, ",")
	return tot
}

// TestParquetDuckDB writes each bundled capture as NDJSON and as Parquet: DuckDB
// reads the Parquet file with the NDJSON records' row count, packet and byte sums,
// distinct port classes, list lengths and first timestamp (nanoseconds, UTC), the
// columns have the documented types, and the metadata carries the schema version.
func TestParquetDuckDB(t *testing.T) {
	db := openDB(t)
	dir := t.TempDir()
	for _, in := range append(captures(t), filepath.Join(root, "testdata")) {
		name, _ := filepath.Rel(filepath.Join(root, "testdata"), in)
		name = strings.ReplaceAll(name, "/", "_") // "." for the directory
		nd, pq := filepath.Join(dir, name+".ndjson"), filepath.Join(dir, name+".parquet")
		run(t, "analyze", "--quiet", "--format", "ndjson", "-o", nd, in)
		run(t, "analyze", "--quiet", "-o", pq, in)
		want, got := ndjsonTotals(t, nd), parquetTotals(t, db, fmt.Sprintf("read_parquet('%s')", pq))
		if got != want {
			t.Errorf("%s: DuckDB reads %+v, the NDJSON records say %+v", in, got, want)
		}
	}
	pq := filepath.Join(dir, "sample.pcapng.parquet")
	types := map[string]string{}
	rows, err := db.Query(fmt.Sprintf("DESCRIBE SELECT * FROM read_parquet('%s')", pq))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			t.Fatal(err)
		}
		types[name] = typ
	}
	rows.Close()
	// TIMESTAMPTZ_NS: DuckDB's type for TIMESTAMP(NANOS, isAdjustedToUTC=true).
	for col, typ := range map[string]string{
		"first": "TIMESTAMPTZ_NS", "last": "TIMESTAMPTZ_NS", "packets_to_server": "BIGINT", "bytes_to_client": "BIGINT",
		"server_port": "INTEGER", "vlan": "INTEGER", "client": "VARCHAR", "flags": "VARCHAR[]", "icmp_type": "INTEGER",
	} {
		if got := types[col]; got != typ {
			t.Errorf("column %s: %s, want %s", col, got, typ)
		}
	}
	if !strings.HasPrefix(types["veeam"], "STRUCT(") || !strings.HasPrefix(types["icmp_errors"], "STRUCT(") {
		t.Errorf("veeam %s, icmp_errors %s: want lists of structs", types["veeam"], types["icmp_errors"])
	}
	var version string
	q := fmt.Sprintf("SELECT decode(value) FROM parquet_kv_metadata('%s') WHERE decode(key) = 'portclass.schema_version'", pq)
	if err := db.QueryRow(q).Scan(&version); err != nil || version != "1" {
		t.Errorf("schema version in the metadata: %q, %v", version, err)
	}
	// A query as docs/scale.md shows it: bytes per server port of the dynamic range.
	var n int
	q = fmt.Sprintf(`SELECT count(*) FROM (SELECT proto, server_port, sum(bytes_to_server + bytes_to_client) AS bytes
		FROM read_parquet('%s') WHERE port_class = 'dynamic' GROUP BY ALL ORDER BY bytes DESC)`, pq)
	if err := db.QueryRow(q).Scan(&n); err != nil || n == 0 {
		t.Errorf("dynamic server ports of the sample: %d, %v", n, err)
	}
}

// docBlocks returns the code blocks of docs/scale.md whose info string is info
// ("sh archive-map", "sql duckdb"), in order.
func docBlocks(t *testing.T, info string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "scale.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && line == "```"+info:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(out) == 0 {
		t.Fatalf("docs/scale.md has no %q block", info)
	}
	return out
}

// TestArchiveRecipe runs docs/scale.md's archive recipe on the bundled captures: its
// map step (the "sh archive-map" block, with GNU parallel: one analyze per capture in
// processes of its own, side by side; without parallel, the same two commands per
// capture as concurrent processes), and merge of the parts as the reduce. The merged
// summary equals analyze of all captures at once (but for the Veeam rules per-capture
// inference cannot know, as README's Merging says), SQL over the Parquet parts gives
// the joint report's totals and port classes, and every "sql duckdb" query of the page
// runs.
func TestArchiveRecipe(t *testing.T) {
	dir := t.TempDir()
	caps := filepath.Join(dir, "captures")
	parts := filepath.Join(dir, "parts")
	for _, d := range []string{caps, parts} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ins := captures(t)
	for _, in := range ins {
		abs, _ := filepath.Abs(in)
		if err := os.Symlink(abs, filepath.Join(caps, filepath.Base(in))); err != nil {
			t.Fatal(err)
		}
	}
	bin := portclass(t)
	if _, err := exec.LookPath("parallel"); err == nil {
		script := docBlocks(t, "sh archive-map")[0]
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the archive-map block of docs/scale.md: %v: %s", err, out)
		}
	} else {
		t.Log("GNU parallel is not installed (apt-get install parallel): the map step runs as concurrent processes started by the test")
		var wg sync.WaitGroup
		errs := make([]error, len(ins))
		for i, in := range ins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				part := filepath.Join("parts", filepath.Base(in))
				for _, args := range [][]string{
					{"analyze", "--quiet", "-o", part + ".json", filepath.Join("captures", filepath.Base(in))},
					{"merge", "--quiet", "--format", "parquet", "-o", part + ".parquet", part + ".json"},
				} {
					cmd := exec.Command(bin, args...)
					cmd.Dir = dir
					if out, err := cmd.CombinedOutput(); err != nil {
						errs[i] = fmt.Errorf("portclass %s: %v: %s", strings.Join(args, " "), err, out)
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		run(t, append([]string{"merge", "--quiet", "-o", filepath.Join(dir, "site.json")}, globOf(t, parts, "*.json")...)...)
	}
	if n := len(globOf(t, parts, "*.parquet")); n != len(ins) {
		t.Fatalf("%d Parquet parts for %d captures", n, len(ins))
	}
	// analyze of all the captures, by the names the map step gave them (an input's
	// path is part of its records)
	merged, all := filepath.Join(dir, "site.json"), filepath.Join(dir, "all.json")
	names := []string{"analyze", "--quiet", "-o", all}
	for _, in := range ins {
		names = append(names, filepath.Join("captures", filepath.Base(in)))
	}
	cmd := exec.Command(bin, names...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("portclass %s: %v: %s", strings.Join(names, " "), err, out)
	}

	m, a := loadJSON(t, merged), loadJSON(t, all)
	// A flow's service is its Veeam service when Veeam rules explain it, and those
	// depend on the roles inferred from all the flows at hand (README, Merging
	// summaries): the services breakdown is left out, and the others are compared by
	// everything but their service names (iana_service stays).
	for _, key := range []string{"schema_version", "totals", "inputs", "protocols", "port_classes", "server_ports",
		"talkers", "states", "attempts", "sweeps", "skipped_files"} {
		if !reflect.DeepEqual(withoutService(m[key]), withoutService(a[key])) {
			t.Errorf("merge of the parts and analyze of all differ in %q:\n merged %v\n all    %v", key, m[key], a[key])
		}
	}
	mf, af := flowsWithoutVeeam(m), flowsWithoutVeeam(a)
	if len(af) == 0 || !reflect.DeepEqual(mf, af) {
		t.Errorf("flow records differ beyond their Veeam rules: %d merged, %d joint", len(mf), len(af))
	}

	db := openDB(t)
	from := fmt.Sprintf("read_parquet('%s')", filepath.Join(parts, "*.parquet"))
	got := parquetTotals(t, db, from)
	tot := a["totals"].(map[string]any)
	var packets, bytes float64
	for _, p := range a["protocols"].([]any) {
		packets += p.(map[string]any)["packets"].(float64)
		bytes += p.(map[string]any)["bytes"].(float64)
	}
	if float64(got.Rows) != tot["flows"].(float64) || float64(got.Packets) != packets || float64(got.Bytes) != bytes {
		t.Errorf("SQL over the parts: %d rows, %d packets, %d bytes; analyze of all: %v flows, %v packets, %v bytes",
			got.Rows, got.Packets, got.Bytes, tot["flows"], packets, bytes)
	}
	// Per port class, as the joint report's port_classes section.
	rows, err := db.Query(`SELECT port_class, count(*), sum(bytes_to_server + bytes_to_client) FROM ` + from + ` GROUP BY port_class`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sqlClasses := map[string][2]float64{}
	for rows.Next() {
		var c string
		var n, b float64
		if err := rows.Scan(&c, &n, &b); err != nil {
			t.Fatal(err)
		}
		sqlClasses[c] = [2]float64{n, b}
	}
	repClasses := map[string][2]float64{}
	for _, c := range a["port_classes"].([]any) {
		cm := c.(map[string]any)
		repClasses[cm["port_class"].(string)] = [2]float64{cm["flows"].(float64), cm["bytes"].(float64)}
	}
	if !reflect.DeepEqual(sqlClasses, repClasses) {
		t.Errorf("flows and bytes per port class: SQL %v, report %v", sqlClasses, repClasses)
	}
	for i, q := range docBlocks(t, "sql duckdb") {
		q = strings.ReplaceAll(q, "'parts/", "'"+parts+"/")
		rows, err := db.Query(q)
		if err != nil {
			t.Errorf("docs/scale.md, DuckDB query %d: %v\n%s", i+1, err, q)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n == 0 && !strings.Contains(q, "unexplained-ephemeral") {
			t.Errorf("docs/scale.md, DuckDB query %d: no row\n%s", i+1, q)
		}
	}
	t.Logf("%d captures mapped in separate processes; %d flow records in SQL and in the joint report", len(ins), got.Rows)
}

func globOf(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// flowsWithoutVeeam returns a summary's flow records without the fields per-capture
// Veeam inference may change (veeam, flags), in order.
func flowsWithoutVeeam(s map[string]any) []map[string]any {
	var out []map[string]any
	fs, _ := s["flows"].([]any)
	for _, f := range fs {
		r := maps(f)
		delete(r, "veeam")
		delete(r, "flags")
		delete(r, "service")
		out = append(out, r)
	}
	return out
}

// withoutService is v without the "service" keys of the objects of a list.
func withoutService(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(l))
	for i, x := range l {
		if m, ok := x.(map[string]any); ok {
			c := maps(m)
			delete(c, "service")
			x = c
		}
		out[i] = x
	}
	return out
}

func maps(v any) map[string]any {
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	return out
}
