package appid

// dnsRule recognises a DNS message (RFC 1035 §4.1) over UDP, or over TCP after its
// 2-byte length (§4.2.2), and tells the NetBIOS name service (RFC 1002 §4.2), which
// uses the same format, by its names: NetBIOS names are one label of 32 bytes 'A'
// to 'P'. mDNS and LLMNR have the DNS format and are dns (telling them apart takes
// the port or the multicast address, which appid does not use).
//
// The header must be plausible (an opcode DNS or NBNS defines, the reserved Z bit
// clear, a query with a zero response code, at most 16 questions and 256 records a
// section; no question only in a response with answers, which mDNS announcements
// are), and every question and record must parse: names of labels up to 63 bytes and
// 255 in all, compression pointers that point backwards into the message, classes
// IN, CH, HS, NONE or ANY (the top bit is mDNS's), rdata inside the message. A
// complete message (a datagram, or a TCP message whose length fits the segment)
// must end exactly after its last record; one cut by the segment or the byte budget
// is checked as far as it goes, provided its first question or record is whole.
func dnsRule(c *ctx, b []byte) match {
	msg, complete := b, c.full == len(b)
	if c.tr == TCP {
		if len(b) < 2+12+5 {
			return match{}
		}
		l := int(be16(b))
		if l < 12+5 {
			return match{}
		}
		msg = b[2:min(len(b), 2+l)]
		complete = 2+l <= len(b)
	}
	p, role, ok := dnsMessage(msg, complete)
	if !ok {
		return match{}
	}
	return match{proto: p, final: true, role: role}
}

func dnsMessage(m []byte, complete bool) (Protocol, uint8, bool) {
	if len(m) < 12+5 {
		return Unknown, 0, false
	}
	qr := m[2]&0x80 != 0
	opcode := (m[2] >> 3) & 0x0f
	rcode := m[3] & 0x0f
	qd, an, ns, ar := int(be16(m[4:])), int(be16(m[6:])), int(be16(m[8:])), int(be16(m[10:]))
	if m[3]&0x40 != 0 || (!qr && rcode != 0) || qd > 16 || an > 256 || ns > 256 || ar > 256 {
		return Unknown, 0, false
	}
	if qd == 0 && !(qr && an > 0) {
		return Unknown, 0, false
	}
	role := uint8(roleClient)
	if qr {
		role = roleServer
	}
	nb := nbName(m[12:])
	switch {
	case nb && opcode != 0 && (opcode < 5 || opcode > 8):
		return Unknown, 0, false
	case !nb && (opcode == 3 || opcode > 5):
		return Unknown, 0, false
	}
	o := 12
	for i := range qd + an + ns + ar {
		next, st := dnsName(m, o)
		fixed := 4 // type, class
		if i >= qd {
			fixed = 10 // type, class, TTL, rdata length
		}
		if st == nameOK && next+fixed > len(m) {
			st = nameShort
		}
		switch st {
		case nameBad:
			return Unknown, 0, false
		case nameShort:
			if complete || i == 0 {
				return Unknown, 0, false
			}
			return dnsKind(nb), role, true
		}
		typ, class := be16(m[next:]), be16(m[next+2:])&0x7fff
		if typ == 0 || (typ != 41 && class != 1 && class != 3 && class != 4 && class != 254 && class != 255) {
			return Unknown, 0, false
		}
		o = next + fixed
		if i >= qd {
			rl := int(be16(m[next+8:]))
			if o+rl > len(m) {
				if complete || i == 0 {
					return Unknown, 0, false
				}
				return dnsKind(nb), role, true
			}
			o += rl
		}
	}
	if complete && o != len(m) {
		return Unknown, 0, false
	}
	return dnsKind(nb), role, true
}

func dnsKind(nb bool) Protocol {
	if nb {
		return NetBIOSNS
	}
	return DNS
}

const (
	nameOK = iota
	nameShort
	nameBad
)

// dnsName walks the name at m[o:] and returns the offset after it.
func dnsName(m []byte, o int) (int, int) {
	start, total := o, 0
	for range 128 {
		if o >= len(m) {
			return 0, nameShort
		}
		l := int(m[o])
		switch {
		case l == 0:
			return o + 1, nameOK
		case l&0xc0 == 0xc0:
			if o+1 >= len(m) {
				return 0, nameShort
			}
			if ptr := (l&0x3f)<<8 | int(m[o+1]); ptr < 12 || ptr >= start {
				return 0, nameBad
			}
			return o + 2, nameOK
		case l&0xc0 != 0:
			return 0, nameBad
		}
		total += l + 1
		if total > 255 {
			return 0, nameBad
		}
		o += 1 + l
	}
	return 0, nameBad
}
