package classify

import (
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify/ports"
	"github.com/portclass/portclass/classify/veeam"
)

// TestProtocolMismatch checks the protocol-mismatch flag: the application protocol
// recognised from the payload against the server port's registered service and the
// Veeam rules of the port, with TLS on TLS-wrapped services, unknown protocols and
// ports that imply nothing never flagged.
func TestProtocolMismatch(t *testing.T) {
	plain, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := veeam.DefaultMatrix()
	withVeeam, err := New(Options{Explain: m.Explain})
	if err != nil {
		t.Fatal(err)
	}
	user, err := New(Options{Explain: m.Explain, Services: []ports.UserService{{Name: "web", Proto: "tcp", Ports: "22"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		c        *Classifier
		proto    uint8
		server   string
		app      appid.Protocol
		mismatch bool
		veeam    bool
	}{
		{"http on 5432", withVeeam, pTCP, "198.51.100.20:5432", appid.HTTP, true, false},
		{"http on 5432, no Veeam", plain, pTCP, "198.51.100.20:5432", appid.HTTP, true, false},
		{"postgresql on 5432", withVeeam, pTCP, "198.51.100.20:5432", appid.PostgreSQL, false, true},
		{"unknown on 5432", withVeeam, pTCP, "198.51.100.20:5432", appid.Unknown, false, true},
		{"http to sshd", withVeeam, pTCP, "198.51.100.20:22", appid.HTTP, true, false},
		{"ssh on 22", withVeeam, pTCP, "198.51.100.20:22", appid.SSH, false, true},
		{"ssh on 443", plain, pTCP, "198.51.100.20:443", appid.SSH, true, false},
		{"tls on 443", plain, pTCP, "198.51.100.20:443", appid.TLS, false, false},
		{"http on 443", plain, pTCP, "198.51.100.20:443", appid.HTTP, true, false},
		{"quic on udp 443", plain, pUDP, "198.51.100.20:443", appid.QUIC, false, false},
		{"tls on 80", plain, pTCP, "198.51.100.20:80", appid.TLS, true, false},
		{"tls on imaps", plain, pTCP, "198.51.100.20:993", appid.TLS, false, false},
		{"imap on imaps", plain, pTCP, "198.51.100.20:993", appid.IMAP, true, false},
		{"tls on ldaps", plain, pTCP, "198.51.100.20:636", appid.TLS, false, false},
		{"tls on submission", plain, pTCP, "198.51.100.20:587", appid.TLS, false, false},
		{"smtp on submission", plain, pTCP, "198.51.100.20:587", appid.SMTP, false, false},
		{"tls on smtp", plain, pTCP, "198.51.100.20:25", appid.TLS, true, false},
		{"tls on winrm-https", plain, pTCP, "198.51.100.20:5986", appid.TLS, false, false},
		{"dns on 53", plain, pUDP, "198.51.100.20:53", appid.DNS, false, false},
		{"dns on mdns", plain, pUDP, "224.0.0.251:5353", appid.DNS, false, false},
		{"syslog on 53", plain, pUDP, "198.51.100.20:53", appid.Syslog, true, false},
		{"http on telnet", plain, pTCP, "198.51.100.20:23", appid.HTTP, true, false},
		// a port that implies nothing: no mismatch, whatever runs there
		{"http on 8000", withVeeam, pTCP, "198.51.100.20:8000", appid.HTTP, false, false},
		{"ssh on 50123", plain, pTCP, "198.51.100.20:50123", appid.SSH, false, false},
		// ... but Microsoft's dynamic RPC range, for rules that match it, is DCE/RPC
		{"ssh on dynamic RPC", withVeeam, pTCP, "198.51.100.20:61234", appid.SSH, true, false},
		{"dcerpc on dynamic RPC", withVeeam, pTCP, "198.51.100.20:61234", appid.DCERPC, false, true},
		// Veeam's own ports: TLS fits, anything else contradicts the rule
		{"tls on the Data Mover", withVeeam, pTCP, "198.51.100.20:6162", appid.TLS, false, true},
		{"http on the Data Mover", withVeeam, pTCP, "198.51.100.20:6162", appid.HTTP, true, false},
		{"http on the Data Mover, no Veeam", plain, pTCP, "198.51.100.20:6162", appid.HTTP, false, false},
		{"tls on the backup service", withVeeam, pTCP, "198.51.100.20:9392", appid.TLS, false, true},
		{"ssh on a transmission channel", withVeeam, pTCP, "198.51.100.20:2600", appid.SSH, true, false},
		// a user-defined service overrides the registered one: only Veeam's word is left
		{"http on a user's 22", user, pTCP, "198.51.100.20:22", appid.HTTP, true, false},
	}
	for _, tt := range tests {
		f := docFlow(tt.proto, "192.0.2.10:40000", tt.server, capture.DirSYN)
		f.App = tt.app
		v := tt.c.Classify(&f)
		if got := v.Flags.Has(FlagProtocolMismatch); got != tt.mismatch {
			t.Errorf("%s: protocol-mismatch %v, want %v (flags %v)", tt.name, got, tt.mismatch, v.Flags)
		}
		if got := v.Flags.Has(FlagVeeam); got != tt.veeam {
			t.Errorf("%s: veeam %v, want %v (%v)", tt.name, got, tt.veeam, v.Veeam)
		}
	}
	// a user-defined service on a port without Veeam rules says nothing of the protocol
	userOnly, err := New(Options{Services: []ports.UserService{{Name: "web", Proto: "tcp", Ports: "5432"}}})
	if err != nil {
		t.Fatal(err)
	}
	f := docFlow(pTCP, "192.0.2.10:40000", "198.51.100.20:5432", capture.DirSYN)
	f.App = appid.HTTP
	if v := userOnly.Classify(&f); v.Flags.Has(FlagProtocolMismatch) {
		t.Errorf("http on a user's 5432 without Veeam: flagged %v", v.Flags)
	}
}

// TestAppPortsTable checks the table behind the flag: sorted (PortApps bisects it),
// one entry a port, and every service name the one IANA registers on the port (or
// an alias of it the entry's note explains).
func TestAppPortsTable(t *testing.T) {
	tab := ports.AppPorts()
	for i, e := range tab {
		if i > 0 && (tab[i-1].Proto > e.Proto || tab[i-1].Proto == e.Proto && tab[i-1].Port >= e.Port) {
			t.Errorf("entry %d (%d/%d) out of order", i, e.Proto, e.Port)
		}
		if got, ok := ports.PortApps(e.Proto, e.Port); !ok || got != e.Apps {
			t.Errorf("PortApps(%d, %d) = %v, %v; want %v", e.Proto, e.Port, got, ok, e.Apps)
		}
		s, ok := ports.Lookup(e.Proto, e.Port)
		if !ok {
			t.Errorf("%s/%d (%s): IANA registers nothing there", capture.ProtoName(e.Proto), e.Port, e.Service)
		} else if s.Name != e.Service && e.Note == "" {
			t.Errorf("%s/%d: the table says %s, IANA %s, and no note says why", capture.ProtoName(e.Proto), e.Port, e.Service, s.Name)
		}
	}
	if _, ok := ports.PortApps(pTCP, 8000); ok {
		t.Error("8000 is in the table")
	}
}
