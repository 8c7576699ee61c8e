package filter

import (
	"fmt"
	"net/netip"
	"strings"
)

// Filter is a parsed filter expression. It is immutable and safe for concurrent use;
// compile it once per link type with Compile or Matcher. The zero value is not useful:
// use Parse.
type Filter struct {
	expr string
	root node // nil for the empty expression, which matches every packet
}

// Parse checks the syntax of a tcpdump (pcap-filter) expression and resolves what each
// primitive means, so that every error, including meaningless qualifier combinations
// such as "tcp host 192.0.2.1", is reported here with its position. Errors are
// *SyntaxError. The empty expression (or only white space) matches every packet, as
// for tcpdump.
func Parse(expr string) (*Filter, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{expr: expr, toks: toks}
	if p.peek().kind == tEOF {
		return &Filter{expr: expr}, nil
	}
	n, _, err := p.parseExpr(qerr)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, fmt.Sprintf("unexpected %s; expected and, or or the end", t.describe()))
	}
	if err := afterGeneve(expr, n); err != nil {
		return nil, err
	}
	if need := scratchNeed(n); need > maxScratch {
		return nil, &SyntaxError{expr, 0, fmt.Sprintf("arithmetic too deeply nested: needs %d scratch registers, BPF has %d", need, maxScratch)}
	}
	return &Filter{expr: expr, root: n}, nil
}

// String returns the expression in canonical form: every primitive fully qualified
// (the implicit repetition of "host a or b" written out), and/or parenthesised where
// needed, arithmetic fully parenthesised, numbers in decimal. Parsing the result gives
// the same filter. The empty filter is "".
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	var b strings.Builder
	f.root.write(&b)
	return b.String()
}

type parser struct {
	expr         string
	toks         []token
	i            int
	lastSemantic *SyntaxError
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, msg string) *SyntaxError {
	return &SyntaxError{Expr: p.expr, Pos: t.pos, Msg: msg}
}

// semantic is errAt for an expression that is well formed but means nothing (a
// qualifier that cannot apply, a number out of range). When the parser tries two
// readings of "(", such an error from the first wins: the syntax was right.
func (p *parser) semantic(t token, msg string) *SyntaxError {
	e := p.errAt(t, msg)
	p.lastSemantic = e
	return e
}

// further returns whichever of two errors from alternative parses got further into
// the expression; that one is usually what the user meant.
func further(a, b error) error {
	ea, _ := a.(*SyntaxError)
	eb, _ := b.(*SyntaxError)
	if ea == nil {
		return b
	}
	if eb == nil || ea.Pos >= eb.Pos {
		return a
	}
	return b
}

// parseExpr is libpcap's expr: and/or of equal precedence, associating to the left.
// After and/or, a bare address ("id") inherits the qualifiers of the term before it.
// It returns the qualifiers the next bare address would inherit.
func (p *parser) parseExpr(qin qual) (node, qual, error) {
	n, q, err := p.parseTerm(qin)
	if err != nil {
		return nil, q, err
	}
	for {
		t := p.peek()
		if t.kind != tAnd && t.kind != tOr {
			return n, q, nil
		}
		p.next()
		switch n := p.peek(); n.kind {
		case tEOF:
			return nil, q, p.errAt(n, fmt.Sprintf("expected a primitive after %q", t.text))
		case tAnd, tOr, tRParen:
			return nil, q, p.errAt(n, fmt.Sprintf("expected a primitive after %q, found %s", t.text, n.describe()))
		}
		var r node
		r, q, err = p.parseTermOrID(q)
		if err != nil {
			return nil, q, err
		}
		if t.kind == tAnd {
			n = &andNode{n, r}
		} else {
			n = &orNode{n, r}
		}
	}
}

func (p *parser) parseTerm(qin qual) (node, qual, error) {
	if p.peek().kind == tNot {
		p.next()
		x, q, err := p.parseTerm(qin)
		if err != nil {
			return nil, q, err
		}
		return &notNode{x}, q, nil
	}
	return p.parseRterm(qin)
}

// isArithFollow reports whether t continues an arithmetic expression or comparison, in
// which case a number or parenthesis before it starts "arth relop arth", not an address.
func isArithFollow(t token) bool {
	switch t.kind {
	case tPlus, tMinus, tStar, tSlash, tPercent, tAmp, tPipe, tCaret, tLsh, tRsh,
		tGT, tGE, tLT, tLE, tEQ, tNE:
		return true
	}
	return false
}

// parseTermOrID parses what follows and/or: a term, or a bare address that inherits qin.
func (p *parser) parseTermOrID(qin qual) (node, qual, error) {
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, q, err := p.parseTermOrID(qin)
		if err != nil {
			return nil, q, err
		}
		return &notNode{x}, q, nil
	case tNum:
		if !isArithFollow(p.peekAt(1)) {
			n, err := p.parseID(qin)
			return n, qin, err
		}
	case tHID, tHID6, tID:
		n, err := p.parseID(qin)
		return n, qin, err
	case tLParen:
		save := p.i
		n, err1 := p.parseID(qin)
		if err1 == nil && !isArithFollow(p.peek()) {
			return n, qin, nil
		}
		if err1 != nil && err1 == error(p.lastSemantic) {
			return nil, qin, err1
		}
		p.i = save
		n, q, err2 := p.parseRterm(qin)
		if err2 != nil {
			if err1 == nil {
				err1 = err2
			}
			return nil, q, further(err2, err1)
		}
		return n, q, nil
	}
	return p.parseRterm(qin)
}

// parseRterm is libpcap's rterm: a qualified primitive, a protocol name, a
// parenthesised expression, vlan/less/greater or an arithmetic comparison.
func (p *parser) parseRterm(qin qual) (node, qual, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		save := p.i
		p.next()
		n, _, err1 := p.parseExpr(qin)
		if err1 == nil {
			if c := p.peek(); c.kind != tRParen {
				err1 = p.errAt(c, fmt.Sprintf("expected \")\" to close the \"(\" at column %d, found %s", t.pos+1, c.describe()))
			} else {
				p.next()
				if !isArithFollow(p.peek()) {
					// libpcap passes the qualifiers from before "(" through: "port 80 or (tcp) or 8".
					return n, qin, nil
				}
			}
		}
		p.i = save
		r, err2 := p.parseRelation()
		if err2 != nil {
			return nil, qerr, further(err1, err2)
		}
		return r, qerr, nil
	case tNum, tMinus:
		r, err := p.parseRelation()
		return r, qerr, err
	case tKw:
		switch t.kw {
		case kwLen:
			r, err := p.parseRelation()
			return r, qerr, err
		case kwVLAN:
			p.next()
			id := -1
			if n := p.peek(); n.kind == tNum || n.kind == tLParen {
				v, vt, err := p.parsePnum()
				if err != nil {
					return nil, qerr, err
				}
				if v > 4095 {
					return nil, qerr, p.errAt(vt, fmt.Sprintf("VLAN ID %d greater than maximum 4095", v))
				}
				id = int(v)
			}
			return &vlanNode{id, t.pos}, qerr, nil
		case kwGeneve:
			p.next()
			vni := -1
			if n := p.peek(); n.kind == tNum || n.kind == tLParen {
				v, vt, err := p.parsePnum()
				if err != nil {
					return nil, qerr, err
				}
				if v > 0xffffff {
					return nil, qerr, p.errAt(vt, fmt.Sprintf("VNI %d greater than maximum %d", v, 0xffffff))
				}
				vni = int(v)
			}
			return &geneveNode{vni, t.pos}, qerr, nil
		case kwLess, kwGreater:
			p.next()
			n := p.peek()
			if n.kind != tNum {
				return nil, qerr, p.errAt(n, fmt.Sprintf("expected a length in bytes after %q, found %s", t.text, n.describe()))
			}
			p.next()
			return &lenNode{greater: t.kw == kwGreater, n: n.num}, qerr, nil
		case kwSrc, kwDst, kwHost, kwNet, kwPort, kwPortrange, kwProto:
			return p.parseHead(pDefault)
		case kwUnsupported:
			return nil, qerr, p.errAt(t, fmt.Sprintf("%q is not supported by this filter compiler%s", t.text, unsupportedHints[t.text]))
		}
		if pq := kwToProto[t.kw]; pq != pUndef {
			if p.peekAt(1).kind == tLBrack {
				r, err := p.parseRelation()
				return r, qerr, err
			}
			p.next()
			switch n := p.peek(); {
			case n.kind == tKw && (n.kw == kwSrc || n.kw == kwDst || n.kw == kwHost || n.kw == kwNet ||
				n.kw == kwPort || n.kw == kwPortrange || n.kw == kwProto):
				return p.parseHead(pq)
			case pq == pLink:
				return nil, qerr, p.errAt(t, fmt.Sprintf("%q alone is not a filter; only %s[offset] is supported", t.text, t.text))
			}
			return &abbrevNode{pq}, qerr, nil
		}
	case tEOF:
		return nil, qerr, p.errAt(t, "unexpected end of expression")
	case tHID, tHID6, tID:
		return nil, qerr, p.errAt(t, fmt.Sprintf("%s needs a qualifier such as host, net or port before it", t.describe()))
	}
	return nil, qerr, p.errAt(t, fmt.Sprintf("unexpected %s", t.describe()))
}

// parseHead parses the qualifiers after an optional protocol (already consumed) and
// the address that follows: [src|dst|src or dst|src and dst] [host|net|port|portrange]
// or "proto".
func (p *parser) parseHead(pq qproto) (node, qual, error) {
	q := qual{proto: pq, dir: dDefault, addr: aDefault}
	last := p.peek()
	if t := p.peek(); t.kind == tKw && (t.kw == kwSrc || t.kw == kwDst) {
		p.next()
		q.dir = dSrc
		if t.kw == kwDst {
			q.dir = dDst
		}
		if c := p.peek(); c.kind == tAnd || c.kind == tOr {
			p.next()
			other := p.peek()
			want := kwDst
			if t.kw == kwDst {
				want = kwSrc
			}
			if other.kind != tKw || other.kw != want {
				return nil, qerr, p.errAt(other, fmt.Sprintf("expected %q after \"%s %s\", found %s", kwName(want), t.text, c.text, other.describe()))
			}
			p.next()
			q.dir = dOr
			if c.kind == tAnd {
				q.dir = dAnd
			}
		}
		last = t
	}
	if t := p.peek(); t.kind == tKw {
		switch t.kw {
		case kwHost:
			q.addr = aHost
		case kwNet:
			q.addr = aNet
		case kwPort:
			q.addr = aPort
		case kwPortrange:
			q.addr = aPortRange
		case kwProto:
			if q.dir == dDefault {
				q.addr = aProto
			}
		}
		if q.addr != aDefault {
			p.next()
			last = t
		}
	}
	if p.peek().kind == tEOF {
		return nil, qerr, p.errAt(p.peek(), fmt.Sprintf("expected %s after %q", idWant(q), last.text))
	}
	n, err := p.parseID(q)
	if err != nil {
		return nil, qerr, err
	}
	return n, q, nil
}

func kwName(k kw) string {
	for s, v := range keywords() {
		if v == k && s != "length" && s != "ether" {
			return s
		}
	}
	return "?"
}

// idWant says what kind of value qualifiers q expect, for error messages.
func idWant(q qual) string {
	switch q.addr {
	case aPort:
		return "port number"
	case aPortRange:
		return "port range A-B"
	case aProto:
		return "protocol number"
	case aNet:
		return "network address"
	}
	return "address"
}

// parseID is libpcap's id: an address, number, name, "not id", or a parenthesised
// and/or list of ids that all inherit q, as in "port (80 or 443)".
func (p *parser) parseID(q qual) (node, error) {
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	case tNum:
		return p.numID(q)
	case tLParen:
		save := p.i
		if n, err := p.numID(q); err == nil || err == error(p.lastSemantic) {
			return n, err
		}
		p.i = save
		p.next()
		n, err := p.parseNid(q)
		if err != nil {
			return nil, err
		}
		for {
			c := p.peek()
			switch c.kind {
			case tAnd, tOr:
				p.next()
				r, err := p.parseID(q)
				if err != nil {
					return nil, err
				}
				if c.kind == tAnd {
					n = &andNode{n, r}
				} else {
					n = &orNode{n, r}
				}
				continue
			case tRParen:
				p.next()
				return n, nil
			}
			return nil, p.errAt(c, fmt.Sprintf("expected and, or or \")\", found %s", c.describe()))
		}
	}
	return p.parseNid(q)
}

// parseNid is the first element of a parenthesised id list: a number in parentheses,
// or a non-numeric id.
func (p *parser) parseNid(q qual) (node, error) {
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	case tNum, tLParen:
		return p.numID(q)
	case tID:
		p.next()
		return p.genName(q, t)
	case tHID:
		p.next()
		switch n := p.peek(); {
		case n.kind == tSlash:
			p.next()
			l := p.peek()
			if l.kind != tNum {
				return nil, p.errAt(l, fmt.Sprintf("expected a prefix length after \"/\", found %s", l.describe()))
			}
			p.next()
			return p.genMasked4(q, t, l.num, "", l)
		case n.kind == tKw && n.kw == kwMask:
			p.next()
			m := p.peek()
			if m.kind != tHID {
				return nil, p.errAt(m, fmt.Sprintf("expected a dotted netmask after \"mask\", found %s", m.describe()))
			}
			p.next()
			return p.genMasked4(q, t, 0, m.text, m)
		}
		return p.genDotted(q, t)
	case tHID6:
		p.next()
		bits := 128
		if p.peek().kind == tSlash {
			p.next()
			l := p.peek()
			if l.kind != tNum {
				return nil, p.errAt(l, fmt.Sprintf("expected a prefix length after \"/\", found %s", l.describe()))
			}
			p.next()
			if l.num > 128 {
				return nil, p.errAt(l, "mask length must be <= 128")
			}
			bits = int(l.num)
		}
		return p.genV6(q, t, bits)
	case tEOF:
		return nil, p.errAt(t, fmt.Sprintf("expected %s, found end of expression", idWant(q)))
	}
	return nil, p.errAt(t, fmt.Sprintf("expected %s, found %s", idWant(q), t.describe()))
}

// numID parses a number used as an address, port or protocol (libpcap's pnum in an
// id). A number followed by an arithmetic operator is not an id: that is a syntax error
// here, so that the caller can try the arithmetic reading.
func (p *parser) numID(q qual) (node, error) {
	v, vt, err := p.parsePnum()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); isArithFollow(t) {
		return nil, p.errAt(t, fmt.Sprintf("unexpected %s after a number", t.describe()))
	}
	return p.genNum(q, v, vt)
}

// parsePnum parses a number, possibly in parentheses ("(80)").
func (p *parser) parsePnum() (uint32, token, error) {
	t := p.peek()
	switch t.kind {
	case tNum:
		p.next()
		return t.num, t, nil
	case tLParen:
		p.next()
		v, vt, err := p.parsePnum()
		if err != nil {
			return 0, vt, err
		}
		if c := p.peek(); c.kind != tRParen {
			return 0, c, p.errAt(c, fmt.Sprintf("expected \")\", found %s", c.describe()))
		}
		p.next()
		return v, vt, nil
	}
	return 0, t, p.errAt(t, fmt.Sprintf("expected a number, found %s", t.describe()))
}

func (p *parser) noQualifier(t token) error {
	return p.semantic(t, fmt.Sprintf("%s needs a qualifier such as host, net or port: the term before it has none to repeat", t.describe()))
}

// genNum gives a bare number its meaning under q (libpcap's gen_ncode without a string).
func (p *parser) genNum(q qual, v uint32, t token) (node, error) {
	switch q.addr {
	case aUndef:
		return nil, p.noQualifier(t)
	case aDefault, aHost, aNet:
		mask := uint32(0xffffffff)
		if q.addr == aNet {
			// libpcap promotes a short network number: "net 10" is 10.0.0.0/8.
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		}
		return p.host4(q, v, mask, t)
	case aPort, aPortRange:
		if err := p.checkPortProto(q, t); err != nil {
			return nil, err
		}
		if v > 65535 {
			return nil, p.semantic(t, fmt.Sprintf("port number %d greater than 65535", v))
		}
		return &portNode{proto: q.proto, dir: q.dir, lo: uint16(v), hi: uint16(v), isRange: q.addr == aPortRange}, nil
	case aProto:
		return p.protoNum(q, v, t)
	}
	return nil, p.semantic(t, "unexpected number")
}

func (p *parser) checkPortProto(q qual, t token) error {
	switch q.proto {
	case pDefault, pTCP, pUDP, pSCTP:
		return nil
	}
	what := "port"
	if q.addr == aPortRange {
		what = "portrange"
	}
	return p.semantic(t, fmt.Sprintf("%q cannot qualify %s; use tcp, udp or sctp", q.proto.String(), what))
}

func (p *parser) protoNum(q qual, v uint32, t token) (node, error) {
	switch q.proto {
	case pDefault, pIP, pIP6:
	case pLink:
		return nil, p.semantic(t, "\"ether proto\" is not supported; use ether[12:2] = N on Ethernet")
	default:
		return nil, p.semantic(t, fmt.Sprintf("\"%s proto\" is meaningless; use ip proto, ip6 proto or proto", q.proto.String()))
	}
	if v > 255 {
		return nil, p.semantic(t, fmt.Sprintf("protocol number %d greater than 255", v))
	}
	return &protoNode{proto: q.proto, n: uint8(v)}, nil
}

// protocolNames are the names accepted after "proto" (written \tcp, since tcp is a
// keyword). libpcap looks them up in /etc/protocols; these are the common ones.
var protocolNames = map[string]uint8{
	"icmp": 1, "ICMP": 1, "igmp": 2, "IGMP": 2, "tcp": 6, "TCP": 6, "udp": 17, "UDP": 17,
	"gre": 47, "GRE": 47, "esp": 50, "ESP": 50, "IPV6-CRYPT": 50, "ah": 51, "AH": 51,
	"IPV6-AUTH": 51, "ipv6-icmp": 58, "IPv6-ICMP": 58, "sctp": 132, "SCTP": 132,
}

func (p *parser) genName(q qual, t token) (node, error) {
	switch q.addr {
	case aUndef:
		return nil, p.noQualifier(t)
	case aDefault, aHost:
		return nil, p.semantic(t, fmt.Sprintf("%s: hostnames are not resolved; use an address", t.describe()))
	case aNet:
		return nil, p.semantic(t, fmt.Sprintf("%s: network names are not resolved; use an address", t.describe()))
	case aPort:
		if _, _, ok := splitRange(t.text); ok {
			return nil, p.semantic(t, fmt.Sprintf("expected port number after \"port\", found range %s: use portrange", t.text))
		}
		return nil, p.semantic(t, fmt.Sprintf("expected port number after \"port\", found %s: service names are not resolved", t.describe()))
	case aPortRange:
		if err := p.checkPortProto(q, t); err != nil {
			return nil, err
		}
		lo, hi, ok := splitRange(t.text)
		if !ok {
			return nil, p.semantic(t, fmt.Sprintf("expected a port range A-B, found %s", t.describe()))
		}
		if lo > 65535 || hi > 65535 {
			return nil, p.semantic(t, fmt.Sprintf("port number %d greater than 65535", max(lo, hi)))
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		return &portNode{proto: q.proto, dir: q.dir, lo: uint16(lo), hi: uint16(hi), isRange: true}, nil
	case aProto:
		v, ok := protocolNames[t.text]
		if !ok {
			return nil, p.semantic(t, fmt.Sprintf("unknown protocol name %s; use a number", t.describe()))
		}
		return p.protoNum(q, uint32(v), t)
	}
	return nil, p.semantic(t, fmt.Sprintf("unexpected %s", t.describe()))
}

// splitRange parses "A-B" with decimal A and B.
func splitRange(s string) (lo, hi uint64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found || !isDecimal(a) || !isDecimal(b) || len(a) > 10 || len(b) > 10 {
		return 0, 0, false
	}
	lo, _ = parseUint(a)
	hi, _ = parseUint(b)
	return lo, hi, true
}

func parseUint(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	return v, true
}

// genDotted is a dotted IPv4 address without a mask. As in libpcap, a short one is a
// network: "host 192.168" and "net 192.168" both mean 192.168.0.0/16.
func (p *parser) genDotted(q qual, t token) (node, error) {
	v, nbits, ok := parseDotted(t.text)
	if !ok {
		return nil, p.semantic(t, fmt.Sprintf("invalid IPv4 address %s", t.describe()))
	}
	switch q.addr {
	case aUndef:
		return nil, p.noQualifier(t)
	case aDefault, aHost, aNet:
		return p.host4(q, v<<(32-nbits), uint32(0xffffffff)<<(32-nbits), t)
	}
	return nil, p.semantic(t, fmt.Sprintf("expected %s, found IPv4 address %s", idWant(q), t.text))
}

func (p *parser) genMasked4(q qual, t token, masklen uint32, maskText string, mt token) (node, error) {
	n, nbits, ok := parseDotted(t.text)
	if !ok {
		return nil, p.semantic(t, fmt.Sprintf("invalid IPv4 address %s", t.describe()))
	}
	n <<= 32 - nbits
	var m uint32
	if maskText != "" {
		mv, mbits, ok := parseDotted(maskText)
		if !ok {
			return nil, p.semantic(mt, fmt.Sprintf("invalid netmask %q", maskText))
		}
		m = mv << (32 - mbits)
		if n&^m != 0 {
			return nil, p.semantic(t, fmt.Sprintf("non-network bits set in \"%s mask %s\"", t.text, maskText))
		}
	} else {
		if masklen > 32 {
			return nil, p.semantic(mt, "mask length must be <= 32")
		}
		if masklen > 0 {
			m = uint32(0xffffffff) << (32 - masklen)
		}
		if n&^m != 0 {
			return nil, p.semantic(t, fmt.Sprintf("non-network bits set in \"%s/%d\"", t.text, masklen))
		}
	}
	switch q.addr {
	case aUndef:
		return nil, p.noQualifier(t)
	case aNet:
		return p.host4(q, n, m, t)
	}
	return nil, p.semantic(t, "mask syntax is for networks only; use net")
}

// host4 checks the protocol qualifier of an IPv4 host or net (libpcap's gen_host).
func (p *parser) host4(q qual, v, mask uint32, t token) (node, error) {
	kind := "host"
	if q.addr == aNet {
		kind = "net"
	}
	switch q.proto {
	case pDefault, pIP, pARP, pRARP:
		return &hostNode{proto: q.proto, dir: q.dir, v4: v, mask4: mask, isHost: q.addr != aNet}, nil
	case pLink:
		return nil, p.semantic(t, "link-layer addresses are not supported")
	case pIP6:
		return nil, p.semantic(t, fmt.Sprintf("\"ip6\" cannot qualify IPv4 %s %s", kind, t.text))
	}
	return nil, p.semantic(t, fmt.Sprintf("%q cannot qualify a %s; write \"%s and %s %s\"", q.proto.String(), kind, q.proto.String(), kind, t.text))
}

func (p *parser) genV6(q qual, t token, nbits int) (node, error) {
	pfx := netip.PrefixFrom(t.addr, nbits)
	if pfx.Masked().Addr() != t.addr {
		return nil, p.semantic(t, fmt.Sprintf("non-network bits set in \"%s/%d\"", t.text, nbits))
	}
	switch q.addr {
	case aUndef:
		return nil, p.noQualifier(t)
	case aDefault, aHost:
		if nbits != 128 {
			return nil, p.semantic(t, "mask syntax is for networks only; use net")
		}
	case aNet:
	default:
		return nil, p.semantic(t, fmt.Sprintf("expected %s, found IPv6 address %s", idWant(q), t.text))
	}
	kind, text := "host", t.text
	if q.addr == aNet {
		kind = "net"
	}
	if nbits != 128 {
		text = fmt.Sprintf("%s/%d", t.text, nbits)
	}
	switch q.proto {
	case pDefault, pIP6:
		return &hostNode{proto: q.proto, dir: q.dir, v6: true, addr6: t.addr, bits6: nbits, isHost: q.addr != aNet}, nil
	case pLink:
		return nil, p.semantic(t, "link-layer addresses are not supported")
	case pIP, pARP, pRARP:
		return nil, p.semantic(t, fmt.Sprintf("%q cannot qualify IPv6 %s %s", q.proto.String(), kind, text))
	}
	return nil, p.semantic(t, fmt.Sprintf("%q cannot qualify a %s; write \"%s and %s %s\"", q.proto.String(), kind, q.proto.String(), kind, text))
}

// Arithmetic, as libpcap's grammar: "|" binds loosest, then "&", then "<<" and ">>",
// then "+" and "-", then "*", "/" and "%", then unary minus; all associate to the left.
// "^" has no declared precedence in libpcap's grammar, so yacc always shifts it: its
// left operand is the operand just before it and its right operand is everything up to
// the end of the arithmetic expression ("a & b ^ c + d" is "a & (b ^ (c + d))").
func (p *parser) parseRelation() (node, error) {
	start := p.peek()
	l, err := p.parseArith()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	var op relop
	switch t.kind {
	case tGT:
		op = relGT
	case tGE:
		op = relGE
	case tEQ:
		op = relEQ
	case tLT:
		op = relLT
	case tLE:
		op = relLE
	case tNE:
		op = relNE
	default:
		return nil, p.errAt(t, fmt.Sprintf("expected a comparison (=, !=, <, <=, >, >=), found %s", t.describe()))
	}
	p.next()
	r, err := p.parseArith()
	if err != nil {
		return nil, err
	}
	return &relNode{op: op, l: l, r: r, pos: start.pos}, nil
}

// afterGeneve rejects, in source order after a "geneve", what this package cannot
// look for inside the Geneve payload: "vlan", a second "geneve" and byte-offset
// expressions (libpcap moves their offsets too).
func afterGeneve(expr string, n node) error {
	seen := false
	var walk func(n node) error
	walk = func(n node) error {
		switch n := n.(type) {
		case *andNode:
			if err := walk(n.l); err != nil {
				return err
			}
			return walk(n.r)
		case *orNode:
			if err := walk(n.l); err != nil {
				return err
			}
			return walk(n.r)
		case *notNode:
			return walk(n.x)
		case *geneveNode:
			if seen {
				return &SyntaxError{expr, n.pos, `a second "geneve" (Geneve inside Geneve) is not supported by this filter compiler`}
			}
			seen = true
		case *vlanNode:
			if seen {
				return &SyntaxError{expr, n.pos, `"vlan" after "geneve" is not supported by this filter compiler`}
			}
		case *relNode:
			if seen {
				return &SyntaxError{expr, n.pos, `byte-offset expressions after "geneve" are not supported by this filter compiler`}
			}
		}
		return nil
	}
	return walk(n)
}

func binPrec(k tokKind) int {
	switch k {
	case tPipe:
		return 1
	case tAmp:
		return 2
	case tLsh, tRsh:
		return 3
	case tPlus, tMinus:
		return 4
	case tStar, tSlash, tPercent:
		return 5
	}
	return 0
}

func (p *parser) parseArith() (arith, error) { return p.parseBinary(1) }

func (p *parser) parseBinary(minPrec int) (arith, error) {
	l, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec := binPrec(t.kind)
		if prec == 0 || prec < minPrec {
			return l, nil
		}
		p.next()
		r, err := p.parseBinary(prec + 1)
		if err != nil {
			return nil, err
		}
		if l, err = p.mkBin(t, l, r); err != nil {
			return nil, err
		}
	}
}

func (p *parser) mkBin(t token, l, r arith) (arith, error) {
	if n, ok := r.(*numArith); ok {
		switch {
		case t.kind == tSlash && n.v == 0:
			return nil, p.errAt(t, "division by zero")
		case t.kind == tPercent && n.v == 0:
			return nil, p.errAt(t, "modulus by zero")
		case (t.kind == tLsh || t.kind == tRsh) && n.v > 31:
			return nil, p.errAt(t, "shift by more than 31 bits")
		}
	}
	return &binArith{op: t.kind, l: l, r: r}, nil
}

func (p *parser) parseOperand() (arith, error) {
	if p.peek().kind == tMinus {
		p.next()
		x, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		return &negArith{x}, nil
	}
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tCaret {
		p.next()
		r, err := p.parseArith()
		if err != nil {
			return nil, err
		}
		return p.mkBin(t, x, r)
	}
	return x, nil
}

func (p *parser) parsePrimary() (arith, error) {
	t := p.peek()
	switch t.kind {
	case tNum:
		p.next()
		return &numArith{t.num}, nil
	case tLParen:
		p.next()
		x, err := p.parseArith()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, p.errAt(c, fmt.Sprintf("expected \")\", found %s", c.describe()))
		}
		p.next()
		return x, nil
	case tKw:
		if t.kw == kwLen {
			p.next()
			return &lenArith{}, nil
		}
		pq := kwToProto[t.kw]
		ok := pq != pUndef
		if !ok || p.peekAt(1).kind != tLBrack {
			break
		}
		if pq == pAH || pq == pESP {
			return nil, p.errAt(t, fmt.Sprintf("%s[...] is not supported", t.text))
		}
		p.next()
		p.next()
		idx, err := p.parseArith()
		if err != nil {
			return nil, err
		}
		size := 1
		if c := p.peek(); c.kind == tColon {
			p.next()
			s := p.peek()
			if s.kind != tNum {
				return nil, p.errAt(s, fmt.Sprintf("expected a size (1, 2 or 4) after \":\", found %s", s.describe()))
			}
			if s.num != 1 && s.num != 2 && s.num != 4 {
				return nil, p.errAt(s, "data size must be 1, 2, or 4")
			}
			p.next()
			size = int(s.num)
		}
		if c := p.peek(); c.kind != tRBrack {
			return nil, p.errAt(c, fmt.Sprintf("expected \"]\", found %s", c.describe()))
		}
		p.next()
		return &loadArith{proto: pq, idx: idx, size: size}, nil
	}
	return nil, p.errAt(t, fmt.Sprintf("expected a number, len or proto[offset], found %s", t.describe()))
}
