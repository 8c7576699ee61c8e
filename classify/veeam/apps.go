package veeam

import (
	"slices"

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

// veeamAppKeys are the protocols of the services of the configurable ports
// (veeamConfigurablePorts), by key; keys not listed speak what ports.PortApps says of
// their port.
var veeamAppKeys = map[string]ports.AppSet{
	"backup-service":                ports.AppsOf(appid.TLS),
	"catalog-service":               ports.AppsOf(appid.TLS),
	"secure-connections":            ports.AppsOf(appid.TLS),
	"rest-api":                      ports.AppsOf(appid.TLS),
	"installer":                     ports.AppsOf(appid.TLS),
	"data-mover":                    ports.AppsOf(appid.TLS),
	"ssh":                           ports.AppsOf(appid.SSH),
	"enterprise-manager-http":       ports.AppsOf(appid.HTTP, appid.HTTP2),
	"enterprise-manager-https":      ports.AppsOf(appid.TLS),
	"enterprise-manager-rest-https": ports.AppsOf(appid.TLS),
	"enterprise-manager-rest-http":  ports.AppsOf(appid.HTTP, appid.HTTP2),
	"vpower-nfs-mount":              ports.AppsOf(appid.Mountd, appid.Portmap, appid.NFS, appid.OncRPC),
	"vpower-nfs":                    ports.AppsOf(appid.NFS, appid.Mountd, appid.Portmap, appid.OncRPC),
}

// veeamAppPorts are fixed Veeam service ports and what they speak: agent and plug-in
// management (10005, 10006), the installer's fallback port (11731), the Cloud
// Gateway (6180), the appliances' Host Management console (10443) and the UI
// service's gRPC (9396), all over TLS.
var veeamAppPorts = map[uint16]ports.AppSet{
	10005: ports.AppsOf(appid.TLS),
	10006: ports.AppsOf(appid.TLS),
	11731: ports.AppsOf(appid.TLS),
	6180:  ports.AppsOf(appid.TLS),
	10443: ports.AppsOf(appid.TLS),
	9396:  ports.AppsOf(appid.TLS),
}

// portApps is what the Veeam service on single port port of proto speaks, and whether
// that is known.
func (m *Matrix) portApps(proto uint8, port uint16) (ports.AppSet, bool) {
	for _, c := range veeamConfigurablePorts {
		apps, ok := veeamAppKeys[c.key]
		if !ok {
			continue
		}
		if p, moved := m.opts.Ports[c.key]; moved && p == port || !moved && slices.Contains(c.defaults, port) {
			return apps, true
		}
	}
	if apps, ok := veeamAppPorts[port]; ok && proto == capture.ProtoTCP {
		return apps, true
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
		return ports.AppsOf(appid.ISCSI), true
	case s == ports.Span{Lo: 49152, Hi: 65535}:
		return ports.AppsOf(appid.DCERPC), true
	case s == dm || s.Lo == veeamDefaultTransmission.Lo:
		// the channel pools: 2500-3300 (or as configured), 2500-5000 before v10,
		// 2500-2600 for catalog replication, 2500-6000 for file downloads
		return ports.AppsOf(appid.TLS), true
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
