package reports_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// One classified flow, written as an NDJSON flow record.
func ExampleNDJSON() {
	f := capture.Flow{
		Proto:     capture.ProtoTCP,
		Client:    netip.MustParseAddrPort("192.0.2.10:50124"),
		Server:    netip.MustParseAddrPort("192.0.2.21:6162"),
		Direction: capture.DirSYN,
		State:     capture.SF,
		First:     time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC),
		Last:      time.Date(2024, 5, 6, 10, 1, 0, 0, time.UTC),
		Packets:   [2]uint64{900, 4200},
		Bytes:     [2]uint64{72000, 5800000},
		TCPFlags:  [2]uint8{capture.FlagSYN | capture.FlagACK | capture.FlagFIN, capture.FlagSYN | capture.FlagACK | capture.FlagFIN},
		Input:     "backup.pcapng",
		End:       capture.EndTimeout,
	}
	dm, _ := veeam.MatchOf("backup-server-to-component-datamover")
	flags, _ := classify.ParseFlags("veeam")
	v := classify.Verdict{PortClass: ports.ClassRegistered, Outcome: capture.OutcomeOf(&f), Flags: flags, Veeam: []veeam.Match{dm}}
	agg := reports.NewAggregator(reports.Options{})
	agg.Add(&classify.Flow{Flow: f, Verdict: v})
	if err := (reports.NDJSON{}).Encode(os.Stdout, agg.Summary()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	// Output:
	// {"schema_version":1,"proto":"tcp","client":"192.0.2.10:50124","server":"192.0.2.21:6162","vlan":0,"direction":"syn","state":"SF","first":"2024-05-06T10:00:00.000000000Z","last":"2024-05-06T10:01:00.000000000Z","packets_to_server":900,"packets_to_client":4200,"bytes_to_server":72000,"bytes_to_client":5800000,"tcp_flags_to_server":"SAF","tcp_flags_to_client":"SAF","port_class":"registered","service":"","flags":["veeam"],"veeam":[{"rule":"backup-server-to-component-datamover","service":"Veeam Data Mover (Transport Service)","from":"backup-server","to":"veeam-component"}],"icmp_errors":[],"input":"backup.pcapng","end":"timeout","iana_service":""}
}

// Two sensors aggregate their own flows; Merge combines their summaries exactly.
func ExampleMerge() {
	flow := func(client, server string, bytes uint64) *classify.Flow {
		f := capture.Flow{Proto: capture.ProtoUDP, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server),
			State: capture.SF, First: time.Unix(1714989600, 0), Last: time.Unix(1714989601, 0), Packets: [2]uint64{1, 1}, Bytes: [2]uint64{bytes, bytes}}
		return &classify.Flow{Flow: f, Verdict: classify.Verdict{PortClass: ports.ClassWellKnown, Service: "domain", Outcome: capture.OutcomeOf(&f)}}
	}
	a := reports.NewAggregator(reports.Options{})
	a.Add(flow("192.0.2.100:53000", "192.0.2.53:53", 100))
	b := reports.NewAggregator(reports.Options{})
	b.Add(flow("198.51.100.5:53001", "192.0.2.53:53", 50))
	b.Add(flow("198.51.100.5:53002", "203.0.113.53:53", 70))

	m, err := reports.Merge(a.Summary(), b.Summary())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Println("flows:", m.Totals.Flows)
	for _, p := range m.ServerPorts {
		fmt.Printf("%s/%d %s: %d flows, %d bytes\n", p.Proto, p.Port, p.Service, p.Flows, p.Bytes)
	}
	for _, t := range m.Talkers[:2] {
		fmt.Printf("%s: %d flows, %d bytes\n", t.Addr, t.Flows, t.Bytes)
	}
	// Output:
	// flows: 3
	// udp/53 domain: 3 flows, 440 bytes
	// 192.0.2.53: 2 flows, 300 bytes
	// 198.51.100.5: 2 flows, 240 bytes
}
