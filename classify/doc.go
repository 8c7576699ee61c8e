// Package classify is the third stage of portclass's pipeline: it takes finished flow
// records from package capture and adds a [Verdict]: the IANA port class of the server
// port, OS ephemeral-range flags, the service name (IANA's or the user's) and the Veeam
// Backup & Replication rules that explain the flow, and what the network did with the
// flow ([Outcome]).
//
// Its concerns are packages of their own: [ports] (what a port number says: class,
// ephemeral ranges, services), [veeam] (the Veeam matrix and host-role inference) and
// [policy] (the user's policy: load, verify, learn, firewall rules). This package
// combines the first two into a flow's verdict.
//
// It knows nothing of how packets were read or how reports look.
package classify
