package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// tokKind is the kind of a lexical token. The lexer follows libpcap's scanner.l: words
// are split the way flex's longest match splits them, keywords are case-sensitive, and
// the named constants (tcpflags, tcp-syn, icmp-echo, ...) are numbers.
type tokKind uint8

const (
	tUnknown tokKind = iota
	tEOF
	tNum  // number: decimal, 0x hex or 0-prefixed octal, or a named constant
	tHID  // dotted IPv4 address with 2 to 4 parts ("192.0.2", "192.0.2.1")
	tHID6 // IPv6 address
	tID   // any other word: a host, network, port or protocol name, or "A-B"
	tKw   // keyword, see kw
	tAnd  // and, &&
	tOr   // or, ||
	tNot  // not, !
	tLParen
	tRParen
	tLBrack
	tRBrack
	tColon
	tPlus
	tMinus
	tStar
	tSlash
	tPercent
	tAmp
	tPipe
	tCaret
	tLsh
	tRsh
	tGT
	tGE
	tLT
	tLE
	tEQ
	tNE
)

// kw is a keyword. Keywords libpcap knows but this package does not implement are
// kwUnsupported, so that they get a clear error instead of "unknown host".
type kw uint8

const (
	kwUnknown kw = iota
	kwHost
	kwNet
	kwPort
	kwPortrange
	kwProto
	kwSrc
	kwDst
	kwMask
	kwIP
	kwIP6
	kwARP
	kwRARP
	kwTCP
	kwUDP
	kwSCTP
	kwICMP
	kwICMP6
	kwIGMP
	kwAH
	kwESP
	kwLink // ether, link
	kwVLAN
	kwGeneve
	kwLess
	kwGreater
	kwLen
	kwUnsupported
)

// keywords is built on first use (sync.OnceValue), like namedConstants: maps in
// package variables are built by the package's initialiser, at every start of every
// command.
var keywords = sync.OnceValue(func() map[string]kw {
	return withUnsupported(map[string]kw{
		"host": kwHost, "net": kwNet, "port": kwPort, "portrange": kwPortrange, "proto": kwProto,
		"src": kwSrc, "dst": kwDst, "mask": kwMask,
		"ip": kwIP, "ip6": kwIP6, "arp": kwARP, "rarp": kwRARP, "tcp": kwTCP, "udp": kwUDP,
		"sctp": kwSCTP, "icmp": kwICMP, "icmp6": kwICMP6, "igmp": kwIGMP, "ah": kwAH, "esp": kwESP,
		"ether": kwLink, "link": kwLink, "vlan": kwVLAN, "geneve": kwGeneve, "less": kwLess, "greater": kwGreater,
		"len": kwLen, "length": kwLen,
	})
})

// unsupportedKeywords are libpcap keywords outside the supported subset ("vxlan" is
// libpcap 1.11's; tcpdump 4.99 with libpcap 1.10 does not know it).
var unsupportedKeywords = []string{
	"gateway", "protochain", "broadcast", "multicast", "inbound", "outbound", "ifindex",
	"mpls", "pppoed", "pppoes", "vxlan", "byte", "fddi", "tr", "wlan", "ppp", "slip",
	"pim", "vrrp", "carp", "igrp", "atalk", "aarp", "decnet", "lat", "sca", "moprc",
	"mopdl", "iso", "esis", "es-is", "isis", "is-is", "clnp", "l1", "l2", "iih", "lsp",
	"snp", "csnp", "psnp", "stp", "ipx", "netbeui", "llc", "radio", "type", "subtype",
	"dir", "addr1", "addr2", "addr3", "addr4", "ra", "ta", "ifname", "on", "rnr",
	"reason", "rset", "ruleset", "srnr", "subrulenum", "action", "hdlc", "fisu", "lssu",
	"msu", "sio", "opc", "dpc", "sls", "metac", "bcc", "oam", "oamf4", "oamf4ec",
	"oamf4sc", "sc", "ilmic", "connectmsg", "metaconnect", "vpi", "vci", "lane",
	"hfisu", "hlssu", "hmsu", "hsio", "hopc", "hdpc", "hsls",
}

// unsupportedHints add what to write instead to the error for some unsupported keywords.
var unsupportedHints = map[string]string{
	"vxlan":  `; "udp dst port 4789" selects VXLAN packets (libpcap 1.10 has no vxlan either)`,
	"mpls":   "; portclass decodes MPLS labels itself, whatever the filter",
	"pppoes": "; portclass decodes PPPoE sessions itself, whatever the filter",
}

func withUnsupported(m map[string]kw) map[string]kw {
	for _, w := range unsupportedKeywords {
		m[w] = kwUnsupported
	}
	return m
}

// namedConstants are libpcap's named numbers for byte-offset expressions.
var namedConstants = sync.OnceValue(func() map[string]uint32 {
	return map[string]uint32{
		"icmptype": 0, "icmpcode": 1,
		"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
		"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
		"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
		"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
		"icmp6type": 0, "icmp6code": 1,
		"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
		"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
		"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
		"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
		"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
		"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
		"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
		"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
		"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
		"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
		"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
		"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
		"icmp6-multicastrouterterm": 153,

		"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
		"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	}
})

type token struct {
	kind tokKind
	pos  int    // byte offset in the expression
	text string // source text (for tEscaped IDs: without the backslash)
	num  uint32 // tNum
	kw   kw     // tKw
	addr netip.Addr
}

// describe names a token for error messages.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isWordChar(c byte) bool { return isWordStart(c) || c == '-' || c == '_' || c == '.' }

func isHexOrColon(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

// lex splits expr into tokens, ending with a tEOF token.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n' || expr[i] == '\r') {
			i++
		}
		if i >= len(expr) {
			toks = append(toks, token{kind: tEOF, pos: len(expr)})
			return toks, nil
		}
		start := i
		c := expr[i]
		two := ""
		if i+1 < len(expr) {
			two = expr[i : i+2]
		}
		op := func(k tokKind, n int) {
			toks = append(toks, token{kind: k, pos: start, text: expr[start : start+n]})
			i += n
		}
		switch two {
		case "&&":
			op(tAnd, 2)
			continue
		case "||":
			op(tOr, 2)
			continue
		case "!=":
			op(tNE, 2)
			continue
		case ">=":
			op(tGE, 2)
			continue
		case "<=":
			op(tLE, 2)
			continue
		case "<<":
			op(tLsh, 2)
			continue
		case ">>":
			op(tRsh, 2)
			continue
		case "==":
			op(tEQ, 2)
			continue
		}
		if k := singleOps[c]; k != tUnknown {
			if c != ':' || !startsIPv6(expr[i:]) {
				op(k, 1)
				continue
			}
		}
		if c == '\\' {
			j := i + 1
			for j < len(expr) && !strings.ContainsRune(" \t\n\r!()", rune(expr[j])) {
				j++
			}
			if j == i+1 {
				return nil, &SyntaxError{expr, start, `expected a name after "\"`}
			}
			toks = append(toks, token{kind: tID, pos: start, text: expr[i+1 : j]})
			i = j
			continue
		}
		if !isWordStart(c) && c != ':' {
			return nil, &SyntaxError{expr, start, fmt.Sprintf("unexpected character %q", rune(c))}
		}
		// Longest match between an IPv6 address and a word, as flex does.
		v6end := i
		for v6end < len(expr) && isHexOrColon(expr[v6end]) {
			v6end++
		}
		wend := i
		for j := i; j < len(expr) && isWordChar(expr[j]); j++ {
			if isWordStart(expr[j]) || expr[j] == '.' {
				wend = j + 1
			}
		}
		if cand := expr[i:v6end]; strings.Contains(cand, ":") && v6end > wend {
			if a, err := netip.ParseAddr(cand); err == nil && a.Is6() && a.Zone() == "" {
				toks = append(toks, token{kind: tHID6, pos: start, text: cand, addr: a})
				i = v6end
				continue
			}
			if isMAC(cand) {
				return nil, &SyntaxError{expr, start, fmt.Sprintf("MAC address %s: link-layer addresses are not supported", cand)}
			}
		}
		if wend == i {
			return nil, &SyntaxError{expr, start, fmt.Sprintf("unexpected character %q", rune(c))}
		}
		word := expr[i:wend]
		i = wend
		t, err := classifyWord(expr, start, word)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
	}
}

// singleOps is indexed by byte; tUnknown for the others.
var singleOps = [256]tokKind{
	'(': tLParen, ')': tRParen, '[': tLBrack, ']': tRBrack, ':': tColon, '+': tPlus,
	'-': tMinus, '*': tStar, '/': tSlash, '%': tPercent, '&': tAmp, '|': tPipe,
	'^': tCaret, '>': tGT, '<': tLT, '=': tEQ, '!': tNot,
}

// startsIPv6 reports whether s (starting with ':') begins with an IPv6 address such as "::1".
func startsIPv6(s string) bool {
	j := 0
	for j < len(s) && isHexOrColon(s[j]) {
		j++
	}
	a, err := netip.ParseAddr(s[:j])
	return err == nil && a.Is6()
}

func isMAC(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 2 || strings.Contains(p, ".") {
			return false
		}
	}
	return true
}

func classifyWord(expr string, pos int, w string) (token, error) {
	t := token{pos: pos, text: w}
	switch w {
	case "and":
		t.kind = tAnd
		return t, nil
	case "or":
		t.kind = tOr
		return t, nil
	case "not":
		t.kind = tNot
		return t, nil
	}
	if k, ok := keywords()[w]; ok {
		t.kind, t.kw = tKw, k
		return t, nil
	}
	if v, ok := namedConstants()[w]; ok {
		t.kind, t.num = tNum, v
		return t, nil
	}
	if isNumber(w) {
		v, err := parseNumber(w)
		if err != nil {
			return t, &SyntaxError{expr, pos, err.Error()}
		}
		t.kind, t.num = tNum, v
		return t, nil
	}
	if isDotted(w) {
		t.kind = tHID
		return t, nil
	}
	t.kind = tID
	return t, nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isNumber(w string) bool {
	if isDecimal(w) {
		return true
	}
	if len(w) > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X') {
		for i := 2; i < len(w); i++ {
			if !isHexOrColon(w[i]) || w[i] == ':' || w[i] == '.' {
				return false
			}
		}
		return true
	}
	return false
}

// parseNumber reads a number the way libpcap's stou does: 0x hex, 0-prefixed octal,
// otherwise decimal; at most 32 bits.
func parseNumber(w string) (uint32, error) {
	base, digits := 10, w
	switch {
	case len(w) > 2 && (w[1] == 'x' || w[1] == 'X'):
		base, digits = 16, w[2:]
	case len(w) > 1 && w[0] == '0':
		base, digits = 8, w[1:]
		if strings.ContainsAny(digits, "89") {
			return 0, fmt.Errorf("number %s contains non-octal digit", w)
		}
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil || v > 0xffffffff {
		return 0, fmt.Errorf("number %s overflows 32 bits", w)
	}
	return uint32(v), nil
}

// isDotted reports whether w is 2 to 4 decimal numbers joined by dots.
func isDotted(w string) bool {
	parts := strings.Split(w, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if !isDecimal(p) {
			return false
		}
	}
	return true
}

// parseDotted converts a tHID word to a value and its length in bits, as libpcap's
// __pcap_atoin: "192.0.2" is 0xc00002 with 24 bits.
func parseDotted(w string) (v uint32, bits int, ok bool) {
	for _, p := range strings.Split(w, ".") {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
		bits += 8
	}
	return v, bits, true
}
