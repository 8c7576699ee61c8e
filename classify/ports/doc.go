// Package ports is what a port number says on its own: its IANA class (well-known,
// registered, dynamic), the operating systems' ephemeral ranges it falls in, the IANA
// service registered on it (a table generated from IANA's registry, services_gen.go)
// and the services the user defines in the configuration.
//
// It is the first of classify's three concerns (package classify combines them into a
// flow's verdict; package veeam is the Veeam matrix and role inference; package policy
// the user's policy). It knows nothing of flows beyond protocol numbers and ports, of
// Veeam or of reports.
package ports
