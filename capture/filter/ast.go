package filter

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// qproto is a protocol qualifier (libpcap's Q_IP, Q_TCP, ...). pUndef is libpcap's
// Q_UNDEF: a bare address after a term that carries no qualifiers, such as "tcp or 80".
type qproto uint8

const (
	pUndef qproto = iota
	pDefault
	pLink
	pIP
	pIP6
	pARP
	pRARP
	pTCP
	pUDP
	pSCTP
	pICMP
	pICMP6
	pIGMP
	pAH
	pESP
)

var protoNames = [...]string{"", "", "ether", "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "igmp", "ah", "esp"}

func (p qproto) String() string { return protoNames[p] }

// kwToProto is indexed by kw; pUndef for keywords that are not protocols.
var kwToProto = [kwUnsupported + 1]qproto{
	kwLink: pLink, kwIP: pIP, kwIP6: pIP6, kwARP: pARP, kwRARP: pRARP, kwTCP: pTCP,
	kwUDP: pUDP, kwSCTP: pSCTP, kwICMP: pICMP, kwICMP6: pICMP6, kwIGMP: pIGMP, kwAH: pAH,
	kwESP: pESP,
}

// qdir is a direction qualifier.
type qdir uint8

const (
	dUndef qdir = iota
	dDefault
	dSrc
	dDst
	dOr  // src or dst
	dAnd // src and dst
)

var dirNames = [...]string{"", "", "src", "dst", "src or dst", "src and dst"}

// qaddr is an address-type qualifier.
type qaddr uint8

const (
	aUndef qaddr = iota
	aDefault
	aHost
	aNet
	aPort
	aPortRange
	aProto
)

// qual is the qualifier triple that libpcap carries from one primitive to the next
// bare address ("host a or b" is "host a or host b").
type qual struct {
	proto qproto
	dir   qdir
	addr  qaddr
}

var qerr = qual{}

// node is a node of the parsed expression. Children are kept in the order they appear
// in the source; that order decides the 4-byte shift each "vlan" applies to what follows.
type node interface {
	write(b *strings.Builder)
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

// abbrevNode is a bare protocol name: ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6,
// igmp, ah, esp.
type abbrevNode struct{ p qproto }

// hostNode is "host" or "net" for IPv4 (addr/mask, any mask libpcap accepts) or IPv6
// (addr/bits). proto is pDefault, pIP, pIP6, pARP or pRARP.
type hostNode struct {
	proto  qproto
	dir    qdir
	v6     bool
	v4     uint32 // IPv4 address, host byte order
	mask4  uint32
	addr6  netip.Addr
	bits6  int
	isHost bool // written as "host" (single address) rather than "net"
}

// portNode is "port" or "portrange"; proto is pDefault, pTCP, pUDP or pSCTP.
type portNode struct {
	proto   qproto
	dir     qdir
	lo, hi  uint16
	isRange bool
}

// protoNode is "proto N", "ip proto N" or "ip6 proto N".
type protoNode struct {
	proto qproto // pDefault, pIP or pIP6
	n     uint8
}

// vlanNode is "vlan" (id < 0) or "vlan N"; pos is its offset in the expression.
type vlanNode struct{ id, pos int }

// geneveNode is "geneve" (vni < 0) or "geneve N"; pos is its offset in the expression.
type geneveNode struct{ vni, pos int }

// lenNode is "less N" (len <= N) or "greater N" (len >= N).
type lenNode struct {
	greater bool
	n       uint32
}

type relop uint8

const (
	relUnknown relop = iota
	relGT
	relGE
	relEQ
	relLT
	relLE
	relNE
)

var relNames = [...]string{"", ">", ">=", "=", "<", "<=", "!="}

// relNode is a byte-offset comparison such as "tcp[13] & 2 != 0".
type relNode struct {
	op   relop
	l, r arith
	pos  int // offset of the relation in the expression
}

// arith is an arithmetic expression over packet bytes (libpcap's arth).
type arith interface {
	writeArith(b *strings.Builder)
}

type numArith struct{ v uint32 }
type lenArith struct{}
type negArith struct{ x arith }

// loadArith is proto[idx:size].
type loadArith struct {
	proto qproto
	idx   arith
	size  int
}

type binArith struct {
	op   tokKind // tPlus, tMinus, tStar, tSlash, tPercent, tAmp, tPipe, tCaret, tLsh, tRsh
	l, r arith
}

var binNames = [...]string{
	tPlus: "+", tMinus: "-", tStar: "*", tSlash: "/", tPercent: "%", tAmp: "&", tPipe: "|",
	tCaret: "^", tLsh: "<<", tRsh: ">>",
}

func (n *andNode) write(b *strings.Builder) {
	if _, ok := n.l.(*orNode); ok {
		writeOperand(b, n.l)
	} else {
		n.l.write(b)
	}
	b.WriteString(" and ")
	writeOperand(b, n.r)
}

// write relies on "and" and "or" having the same precedence and associating to the
// left, as in libpcap: a right operand that is and/or needs parentheses; a left one is
// parenthesised only when it is the other operator, for readers who expect "and" to
// bind tighter.
func (n *orNode) write(b *strings.Builder) {
	if _, ok := n.l.(*andNode); ok {
		writeOperand(b, n.l)
	} else {
		n.l.write(b)
	}
	b.WriteString(" or ")
	writeOperand(b, n.r)
}

func writeOperand(b *strings.Builder, n node) {
	switch n.(type) {
	case *andNode, *orNode:
		b.WriteByte('(')
		n.write(b)
		b.WriteByte(')')
	default:
		n.write(b)
	}
}

func (n *notNode) write(b *strings.Builder) {
	b.WriteString("not ")
	writeOperand(b, n.x)
}

func (n *abbrevNode) write(b *strings.Builder) { b.WriteString(n.p.String()) }

func writeQual(b *strings.Builder, p qproto, d qdir) {
	if p != pDefault {
		b.WriteString(p.String())
		b.WriteByte(' ')
	}
	if d != dDefault {
		b.WriteString(dirNames[d])
		b.WriteByte(' ')
	}
}

func (n *hostNode) write(b *strings.Builder) {
	writeQual(b, n.proto, n.dir)
	switch {
	case n.v6 && n.bits6 == 128:
		b.WriteString("host ")
		b.WriteString(n.addr6.String())
	case n.v6:
		b.WriteString("net ")
		b.WriteString(n.addr6.String())
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(n.bits6))
	case n.mask4 == 0xffffffff && n.isHost:
		b.WriteString("host ")
		b.WriteString(ip4String(n.v4))
	default:
		b.WriteString("net ")
		b.WriteString(ip4String(n.v4))
		if ones := bits.LeadingZeros32(^n.mask4); n.mask4 == ^(uint32(0xffffffff) >> ones) {
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(ones))
		} else {
			b.WriteString(" mask ")
			b.WriteString(ip4String(n.mask4))
		}
	}
}

func ip4String(v uint32) string {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

func (n *portNode) write(b *strings.Builder) {
	writeQual(b, n.proto, n.dir)
	if n.isRange {
		fmt.Fprintf(b, "portrange %d-%d", n.lo, n.hi)
	} else {
		fmt.Fprintf(b, "port %d", n.lo)
	}
}

func (n *protoNode) write(b *strings.Builder) {
	writeQual(b, n.proto, dDefault)
	fmt.Fprintf(b, "proto %d", n.n)
}

func (n *vlanNode) write(b *strings.Builder) {
	b.WriteString("vlan")
	if n.id >= 0 {
		fmt.Fprintf(b, " %d", n.id)
	}
}

func (n *geneveNode) write(b *strings.Builder) {
	b.WriteString("geneve")
	if n.vni >= 0 {
		fmt.Fprintf(b, " %d", n.vni)
	}
}

func (n *lenNode) write(b *strings.Builder) {
	if n.greater {
		fmt.Fprintf(b, "greater %d", n.n)
	} else {
		fmt.Fprintf(b, "less %d", n.n)
	}
}

func (n *relNode) write(b *strings.Builder) {
	n.l.writeArith(b)
	b.WriteByte(' ')
	b.WriteString(relNames[n.op])
	b.WriteByte(' ')
	n.r.writeArith(b)
}

func (a *numArith) writeArith(b *strings.Builder) { b.WriteString(strconv.FormatUint(uint64(a.v), 10)) }
func (a *lenArith) writeArith(b *strings.Builder) { b.WriteString("len") }

func (a *negArith) writeArith(b *strings.Builder) {
	b.WriteString("-(")
	a.x.writeArith(b)
	b.WriteByte(')')
}

func (a *loadArith) writeArith(b *strings.Builder) {
	name := a.proto.String()
	if a.proto == pLink {
		name = "link"
	}
	b.WriteString(name)
	b.WriteByte('[')
	a.idx.writeArith(b)
	fmt.Fprintf(b, ":%d]", a.size)
}

// writeArith parenthesises every binary operation, so the output does not depend on
// libpcap's unusual precedence of "^".
func (a *binArith) writeArith(b *strings.Builder) {
	b.WriteByte('(')
	a.l.writeArith(b)
	b.WriteByte(' ')
	b.WriteString(binNames[a.op])
	b.WriteByte(' ')
	a.r.writeArith(b)
	b.WriteByte(')')
}
