package veeam

import (
	"slices"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
)

// TestExplainApp checks that a rule explains a flow only when the application
// protocol recognised from its payload fits the service the rule names on the
// server port, through every way of explaining (Explain, ExplainFor, an Inferer's
// Explain), and that an unknown protocol fits every rule.
func TestExplainApp(t *testing.T) {
	def := DefaultMatrix()
	moved, err := def.With(Options{DataMoverRange: "7000-7100", Ports: map[string]uint16{"data-mover": 7500}})
	if err != nil {
		t.Fatal(err)
	}
	tcp := capture.ProtoTCP
	tests := []struct {
		name   string
		m      *Matrix
		server string
		app    appid.Protocol
		has    []string // rule ids among the result
		hasNot []string // rule ids not in it
		none   bool     // no rule at all
	}{
		{"postgresql on 5432", def, "192.0.2.21:5432", appid.PostgreSQL, []string{"backup-server-to-postgresql"}, nil, false},
		{"unknown on 5432", def, "192.0.2.21:5432", appid.Unknown, []string{"backup-server-to-postgresql"}, nil, false},
		{"http on 5432", def, "192.0.2.21:5432", appid.HTTP, nil, nil, true},
		{"tls on 5432 (direct TLS)", def, "192.0.2.21:5432", appid.TLS, []string{"backup-server-to-postgresql"}, nil, false},
		{"tls on the Data Mover", def, "192.0.2.21:6162", appid.TLS, []string{"backup-server-to-component-datamover"}, nil, false},
		{"http on the Data Mover", def, "192.0.2.21:6162", appid.HTTP, nil, nil, true},
		{"tls on a transmission channel", def, "192.0.2.21:2600", appid.TLS, []string{"proxy-to-repository"}, nil, false},
		{"ssh on a transmission channel", def, "192.0.2.21:2600", appid.SSH, nil, nil, true},
		// 3260 is a transmission channel and iSCSI: the iSCSI rules stay
		{"iscsi on 3260", def, "192.0.2.21:3260", appid.ISCSI, []string{"proxy-to-array-iscsi", "sql-target-to-mount-iscsi"}, []string{"proxy-to-repository"}, false},
		{"dcerpc on dynamic RPC", def, "192.0.2.21:50000", appid.DCERPC, []string{"backup-server-to-windows-dynrpc"}, nil, false},
		{"http on dynamic RPC", def, "192.0.2.21:50000", appid.HTTP, nil, []string{"backup-server-to-windows-dynrpc"}, false},
		{"ssh on 22", def, "192.0.2.21:22", appid.SSH, []string{"backup-server-to-linux-ssh"}, nil, false},
		{"http on 22", def, "192.0.2.21:22", appid.HTTP, nil, nil, true},
		{"tls on 443", def, "192.0.2.21:443", appid.TLS, []string{"backup-server-to-vcenter"}, nil, false},
		{"http on 443", def, "192.0.2.21:443", appid.HTTP, nil, nil, true},
		{"http on 80", def, "192.0.2.21:80", appid.HTTP, []string{"backup-server-to-crl"}, nil, false},
		// a port no table knows (VMware NFC on 902): any protocol
		{"tls on 902", def, "192.0.2.21:902", appid.TLS, []string{"proxy-to-esxi-902"}, nil, false},
		{"tls on the agent port", def, "192.0.2.21:10006", appid.TLS, []string{"agent-linux-to-backup-server"}, nil, false},
		{"http on the agent port", def, "192.0.2.21:10006", appid.HTTP, nil, nil, true},
		// the configuration moves the Data Mover and its channels: what they speak moves along
		{"tls on a moved channel", moved, "192.0.2.21:7050", appid.TLS, []string{"proxy-to-repository"}, nil, false},
		{"http on a moved channel", moved, "192.0.2.21:7050", appid.HTTP, nil, nil, true},
		{"tls on the moved Data Mover", moved, "192.0.2.21:7500", appid.TLS, []string{"proxy-to-repository"}, nil, false},
		{"http on the moved Data Mover", moved, "192.0.2.21:7500", appid.HTTP, nil, nil, true},
	}
	for _, tt := range tests {
		f := vtFlow(t, tcp, "192.0.2.10:40000", tt.server, capture.SF)
		f.App = tt.app
		all := tt.m.Explain(f)
		if tt.none && all != nil {
			t.Errorf("%s: %v, want no rule", tt.name, ids(all))
			continue
		}
		for _, id := range tt.has {
			if !slices.Contains(ids(all), id) {
				t.Errorf("%s: %v, want %s among them", tt.name, ids(all), id)
			}
		}
		for _, id := range tt.hasNot {
			if slices.Contains(ids(all), id) {
				t.Errorf("%s: %v, want no %s", tt.name, ids(all), id)
			}
		}
		// the role-aware paths see the same rules, narrowed
		in := tt.m.NewInferer(nil)
		for _, got := range [][]Match{tt.m.ExplainFor(f, []string{"backup-server"}, []string{"veeam-component"}), tt.m.ExplainFor(f, nil, nil), in.Explain(f)} {
			for _, v := range got {
				if !slices.Contains(all, v) {
					t.Errorf("%s: ExplainFor gives %s, which Explain does not", tt.name, v)
				}
			}
		}
	}
}

func ids(ms []Match) []string {
	var out []string
	for _, v := range ms {
		out = append(out, v.ID())
	}
	return out
}

// TestVeeamKeyApps keeps veeamKeyApps in the order of veeamConfigurablePorts.
func TestVeeamKeyApps(t *testing.T) {
	for i, c := range veeamConfigurablePorts {
		if veeamKeyApps[i].key != c.key {
			t.Errorf("veeamKeyApps[%d] is %q, veeamConfigurablePorts[%d] %q", i, veeamKeyApps[i].key, i, c.key)
		}
	}
}

// TestInferApp: a flow whose payload is plainly not the protocol of the rules of its
// port (HTTP to the Data Mover's 6162, or to PostgreSQL's 5432) is no evidence of a
// Veeam role; the protocol of the rules, or none recognised, is.
func TestInferApp(t *testing.T) {
	m := DefaultMatrix()
	for _, tc := range []struct {
		server string
		app    appid.Protocol
		want   uint64
	}{
		{"192.0.2.21:6162", appid.TLS, 1},
		{"192.0.2.21:6162", appid.Unknown, 1},
		{"192.0.2.21:6162", appid.HTTP, 0},
		{"192.0.2.30:5432", appid.PostgreSQL, 1},
		{"192.0.2.30:5432", appid.HTTP, 0},
	} {
		in := m.NewInferer(nil)
		f := vtFlow(t, capture.ProtoTCP, "192.0.2.10:50000", tc.server, capture.SF)
		f.App = tc.app
		in.AddFlow(f)
		if got := in.Stats().Evidence; got != tc.want {
			t.Errorf("%s to %s: %d flows of evidence, want %d", tc.app, tc.server, got, tc.want)
		}
	}
}
