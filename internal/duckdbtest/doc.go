// Package duckdbtest checks portclass's Parquet output with DuckDB, a real SQL
// engine, and runs the archive recipe of docs/scale.md (one analyze per capture in
// separate processes, merge as the reduce, SQL over the Parquet parts).
//
// It is a module of its own, with tests only: DuckDB's Go driver
// (github.com/duckdb/duckdb-go/v2) links the DuckDB library with cgo, and portclass's
// own module and binary stay cgo-free (CGO_ENABLED=0). The tests run the portclass
// binary as a user would: PORTCLASS_BIN when set (make test passes bin/portclass),
// else one built from the module root into a temporary directory.
//
// make test runs them (make test-duckdb); when the driver cannot be fetched or built
// (no network to the Go module proxy, no C compiler) the target says so and skips
// them.
package duckdbtest
