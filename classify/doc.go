// Package classify is the third stage of portclass's pipeline: it takes finished flow
// records from package capture and adds a [Verdict]: the IANA port class of the server
// port, OS ephemeral-range flags, the IANA service name (from a table generated from
// IANA's registry and embedded), user-defined services, and the Veeam Backup &
// Replication rules that explain the flow.
//
// It knows nothing of how packets were read or how reports look.
package classify
