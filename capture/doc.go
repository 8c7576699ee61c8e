// Package capture is the first stage of portclass's pipeline: it reads packets from
// capture files (pcap, pcapng, gzip- or zstd-compressed, stdin) and live interfaces,
// decodes the few header fields a flow needs without allocating, entering tunnels
// (VXLAN, Geneve, GRE, ERSPAN, IP-in-IP, Teredo, GTP-U, ...: see decap.go) so that a
// packet's flow is its innermost IP packet, keyed with its TunnelPath, and groups
// packets into bidirectional flows with a TCP connection state in Zeek's conn_state
// vocabulary.
//
// Its output is a stream of [Flow] records. It knows nothing of services, Veeam roles
// or reports: the one piece of port knowledge the direction heuristic needs is injected
// by the caller as [Options.ServerPort].
package capture
