package veeam

import (
	"slices"
	"sync"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/classify/ports"
)

// What the Veeam services speak, for the rules' match against a flow's application
// protocol (see segment): a rule explains a flow only when the protocol recognised
// from its payload fits the service the rule names on its server port, so that plain
// HTTP to 5432 is no Veeam configuration database traffic. A rule's port says it:
//
//   - Veeam's own service ports (the configurable ones as the configuration moves
//     them, and a few fixed ones) speak TLS, or HTTP where the service is plain HTTP;
//   - a port range: Veeam's channel pools (the Data Mover transmission channels
//     2500-3300 or as configured, 2500-5000 before v10, the catalog's 2500-2600, file
//     downloads' 2500-6000) carry its TLS-protected channels, Microsoft's dynamic RPC
//     range (49152-65535) DCE/RPC, the iSCSI ranges iSCSI;
//   - any other single port speaks what its registered service does (ports.PortApps:
//     443 TLS, 5432 PostgreSQL, 22 SSH, 445 SMB, ...).
//
// Where none of these knows the port (a Veeam service whose protocol is not
// documented, a range without a single protocol), the rule fits any protocol. An
// unknown application protocol fits every rule.

// What the Veeam services speak, as AppSet constants (the tables below are static
// data).
const (
	veeamTLS    = ports.AppSet(1) << appid.TLS
	veeamSSH    = ports.AppSet(1) << appid.SSH
	veeamHTTP   = ports.AppSet(1)<<appid.HTTP | ports.AppSet(1)<<appid.HTTP2
	veeamONCRPC = ports.AppSet(1)<<appid.NFS | ports.AppSet(1)<<appid.Mountd | ports.AppSet(1)<<appid.Portmap | ports.AppSet(1)<<appid.OncRPC
)

// veeamKeyApps are the protocols of the services of the configurable ports, in the
// order of veeamConfigurablePorts (TestVeeamKeyApps checks it); 0 for a key whose port
// speaks what ports.PortApps says of it.
var veeamKeyApps = [len(veeamConfigurablePorts)]struct {
	key  string
	apps ports.AppSet
}{
	{"backup-service", veeamTLS},
	{"catalog-service", veeamTLS},
	{"secure-connections", veeamTLS},
	{"rest-api", veeamTLS},
	{"installer", veeamTLS},
	{"data-mover", veeamTLS},
	{"ssh", veeamSSH},
	{"enterprise-manager-http", veeamHTTP},
	{"enterprise-manager-https", veeamTLS},
	{"enterprise-manager-service", 0},
	{"enterprise-manager-rest-https", veeamTLS},
	{"enterprise-manager-rest-http", veeamHTTP},
	{"vpower-nfs-mount", veeamONCRPC},
	{"vpower-nfs", veeamONCRPC},
}

// veeamDefaultKeyPorts is veeamKeyApps by default port, made on first use: the
// lookup of a matrix whose configuration moves no port.
var veeamDefaultKeyPorts = sync.OnceValue(func() map[uint16]ports.AppSet {
	out := map[uint16]ports.AppSet{}
	for i, c := range veeamConfigurablePorts {
		if apps := veeamKeyApps[i].apps; apps != 0 {
			for _, p := range c.defaults {
				out[p] = apps
			}
		}
	}
	return out
})

// veeamAppPorts are fixed Veeam service ports (TCP) and what they speak: agent and
// plug-in management (10005, 10006), the installer's fallback port (11731), the Cloud
// Gateway (6180), the appliances' Host Management console (10443) and the UI
// service's gRPC (9396), all over TLS.
var veeamAppPorts = [...]uint16{10005, 10006, 11731, 6180, 10443, 9396}

// portApps is what the Veeam service on single port port of proto speaks, and whether
// that is known.
func (m *Matrix) portApps(proto uint8, port uint16) (ports.AppSet, bool) {
	if len(m.opts.Ports) == 0 {
		if apps, ok := veeamDefaultKeyPorts()[port]; ok {
			return apps, true
		}
	} else {
		for i, c := range veeamConfigurablePorts {
			apps := veeamKeyApps[i].apps
			if apps == 0 {
				continue
			}
			if p, moved := m.opts.Ports[c.key]; moved && p == port || !moved && slices.Contains(c.defaults, port) {
				return apps, true
			}
		}
	}
	if proto == capture.ProtoTCP && slices.Contains(veeamAppPorts[:], port) {
		return veeamTLS, true
	}
	return ports.PortApps(proto, port)
}

// rangeApps is what a rule's port range s speaks, and whether that is known.
func (m *Matrix) rangeApps(s ports.Span) (ports.AppSet, bool) {
	dm := veeamDefaultTransmission
	if m.opts.DataMoverRange != "" {
		dm.Lo, dm.Hi, _ = ports.ParseRange(m.opts.DataMoverRange) // checked by normalize
	}
	switch {
	case s.Lo >= 3260 && s.Hi <= 3270:
		return ports.AppSet(1) << appid.ISCSI, true
	case s == ports.Span{Lo: 49152, Hi: 65535}:
		return ports.AppSet(1) << appid.DCERPC, true
	case s == dm || s.Lo == veeamDefaultTransmission.Lo:
		// the channel pools: 2500-3300 (or as configured), 2500-5000 before v10,
		// 2500-2600 for catalog replication, 2500-6000 for file downloads
		return veeamTLS, true
	}
	return 0, false
}

// appCheck tells which rules of one server port fit one application protocol,
// looking the single port's service up once.
type appCheck struct {
	m                *Matrix
	proto            uint8
	port             uint16
	app              appid.Protocol
	single           ports.AppSet
	singleOK, looked bool
}

// fits reports whether rule r, which names c.port, fits c.app: the service r names
// on the port may be c.app, or nothing says what it is.
func (c *appCheck) fits(r *Rule) bool {
	for _, s := range r.Ports {
		if !s.Contains(c.port) {
			continue
		}
		if s.Lo != s.Hi {
			apps, known := c.m.rangeApps(s)
			return !known || apps.Has(c.app)
		}
		if !c.looked {
			c.single, c.singleOK = c.m.portApps(c.proto, c.port)
			c.looked = true
		}
		return !c.singleOK || c.single.Has(c.app)
	}
	return true
}

// fitting keeps, of the rules of f's server port and their matches, those that fit
// f's application protocol (see appCheck): the same slices when all do, nils when
// none. Only flows whose protocol is known come here.
func (m *Matrix) fitting(f *capture.Flow, rules []*Rule, ms []Match) ([]*Rule, []Match) {
	c := appCheck{m: m, proto: f.Proto, port: f.Server.Port(), app: f.App}
	keep := 0
	for _, r := range rules {
		if c.fits(r) {
			keep++
		}
	}
	switch keep {
	case len(rules):
		return rules, ms
	case 0:
		return nil, nil
	}
	rs, out := make([]*Rule, 0, keep), make([]Match, 0, keep)
	for i, r := range rules {
		if c.fits(r) {
			rs, out = append(rs, r), append(out, ms[i])
		}
	}
	return rs, out
}
