package appid

// Storage protocols: ONC RPC (and the NFS, mountd and portmap programs) and iSCSI.

// ONC RPC program numbers with names of their own (RFC 1833, RFC 1813, RFC 7530).
const (
	progPortmap = 100000
	progNFS     = 100003
	progMountd  = 100005
)

// rpcRule recognises an ONC RPC call (RFC 5531 §9): over UDP the datagram, over TCP
// after the record mark (§11: last-fragment bit, 31-bit length of at least 40). A
// call has message type 0, RPC version 2, credentials and verifier of a flavor 0-6
// and at most 400 bytes (§8.2) inside the message. The program names it: portmap
// (100000, versions 2-4), nfs (100003, versions 2-4), mountd (100005, versions 1-3),
// else onc-rpc. Replies are not recognised on their own (their fixed part is a few
// zero words); a flow is identified by its calls.
func rpcRule(c *ctx, b []byte) match {
	if c.tr == TCP {
		if len(b) < 4 {
			return match{}
		}
		if l := be32(b) & 0x7fffffff; l < 40 || l > 1<<24 {
			return match{}
		}
		b = b[4:]
	}
	p, ok := rpcCall(b)
	if !ok {
		return match{}
	}
	return match{proto: p, final: true, role: roleClient}
}

func rpcCall(b []byte) (Protocol, bool) {
	if len(b) < 40 || be32(b[4:]) != 0 || be32(b[8:]) != 2 {
		return Unknown, false
	}
	cf, cl := be32(b[24:]), be32(b[28:])
	if cf > 6 || cl > 400 {
		return Unknown, false
	}
	o := 32 + int((cl+3)&^3)
	if len(b) < o+8 {
		return Unknown, false
	}
	if vf, vl := be32(b[o:]), be32(b[o+4:]); vf > 6 || vl > 400 {
		return Unknown, false
	}
	prog, vers := be32(b[12:]), be32(b[16:])
	switch {
	case prog == progPortmap && vers >= 2 && vers <= 4:
		return Portmap, true
	case prog == progNFS && vers >= 2 && vers <= 4:
		return NFS, true
	case prog == progMountd && vers >= 1 && vers <= 3:
		return Mountd, true
	}
	return OncRPC, true
}

// iscsiRule recognises an iSCSI Login Request or Login Response PDU (RFC 7143
// §11.12-11.13): opcode 0x03 with the immediate bit (0x43) or 0x23, no reserved
// flag bits and no stage 2 (reserved), version bytes 0 (the only version), a data
// segment of at most 64 KiB that starts with a text key ("InitiatorName=...",
// "TargetPortalGroupTag=..."), and, in a request, the 16 reserved bytes at the end of
// the header zero. A response without data must carry a status class (0-3).
func iscsiRule(c *ctx, b []byte) match {
	if len(b) < 48 || (b[0] != 0x43 && b[0] != 0x23) || b[2] != 0 || b[3] != 0 {
		return match{}
	}
	f := b[1]
	if f&0x30 != 0 || (f>>2)&3 == 2 || f&3 == 2 {
		return match{}
	}
	dsl, hdr := int(be24(b[5:])), 48+4*int(b[4])
	if hdr > len(b) || dsl > 1<<16 {
		return match{}
	}
	data := b[hdr:]
	req := b[0] == 0x43
	if req {
		for _, x := range b[32:48] {
			if x != 0 {
				return match{}
			}
		}
	}
	switch {
	case dsl > 0 && textKey(data):
	case dsl == 0 && !req && b[36] <= 3:
	default:
		return match{}
	}
	if req {
		return match{proto: ISCSI, final: true, role: roleClient}
	}
	return match{proto: ISCSI, final: true, role: roleServer}
}

// textKey reports whether b starts with an iSCSI text key (RFC 7143 §6.1: letters,
// digits, ".", "-", "+", "@", "_", up to 63 bytes) and "=".
func textKey(b []byte) bool {
	for i, ch := range b {
		switch {
		case ch == '=':
			return i > 0
		case i >= 63 || !(isLetter(ch) || isDigit(ch) || ch == '.' || ch == '-' || ch == '+' || ch == '@' || ch == '_'):
			return false
		}
	}
	return false
}
