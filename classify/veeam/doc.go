// Package veeam is the Veeam Backup & Replication port matrix (roles, rules, the public
// page each rule comes from; veeam.yaml, compiled into Go as veeam_gen.go) and the
// inference of hosts' Veeam roles from flows.
//
// It is the second of classify's three concerns: package ports says what a port is,
// this package which Veeam rules a flow between two hosts matches once their roles are
// declared (Inventory) or inferred (Inferer), package policy checks flows against the
// user's policy. It knows nothing of how packets were read or how reports look.
package veeam
