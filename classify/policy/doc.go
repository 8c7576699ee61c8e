// Package policy is the user's policy: a YAML file of hosts and their Veeam roles, named
// address groups and rules (from → to, protocol, ports; required, allowed or
// forbidden), with the Veeam matrix's rules between the declared roles derived from it.
// It loads and validates policies (Load), checks flows against them (Verifier), learns
// one from what captures show (Learner) and writes one as firewall rules
// (Policy.WriteFirewall: nftables, iptables, Windows Firewall).
//
// It is the third of classify's concerns, after package ports (what a port is) and
// package veeam (the Veeam matrix and role inference). It knows nothing of how packets
// were read or how reports look.
package policy
