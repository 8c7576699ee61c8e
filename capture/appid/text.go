package appid

import "bytes"

// Text protocols. Every rule anchors on a fixed token and the shape of the line
// around it, never on a port: "SSH-2.0-x", a request line ending in "HTTP/1.1", a
// "220 " banner as the first thing a server says, ...

// sshIdent finds an SSH identification string, "SSH-protoversion-softwareversion
// [SP comments] CR LF" (RFC 4253 §4.2), at the start of b or after at most eight
// lines of printable text (which the RFC allows a server to send first). ok reports
// that "SSH-" digits "." digits "-" and a printable byte were found; id is the whole
// line without CR LF when it ends within b and is at most MaxMeta bytes, else nil.
// softwareversion may hold "-", which the RFC forbids and libssh sends.
func sshIdent(b []byte) (id []byte, ok bool) {
	for range 9 {
		if bytes.HasPrefix(b, []byte("SSH-")) {
			break
		}
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 || !printable(b[:nl]) {
			return nil, false
		}
		b = b[nl+1:]
	}
	if !bytes.HasPrefix(b, []byte("SSH-")) {
		return nil, false
	}
	i := 4
	j := digits(b, i)
	if j == i || j >= len(b) || b[j] != '.' {
		return nil, false
	}
	k := digits(b, j+1)
	if k == j+1 || k+1 >= len(b) || b[k] != '-' || b[k+1] <= ' ' || b[k+1] > '~' {
		return nil, false
	}
	l, ended := firstLine(b[:min(len(b), MaxMeta+1)])
	if !ended {
		return nil, true
	}
	return l, true
}

func sshRule(c *ctx, b []byte) match {
	if _, ok := sshIdent(b); !ok {
		return match{}
	}
	m := match{proto: SSH, final: true, meta: metaSSH}
	if c.peer == 0 {
		m.hint, m.peer = hintSSH, true
	}
	return m
}

// The HTTP/2 connection preface, RFC 9113 §3.4.
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// httpRule recognises the HTTP/2 preface, an HTTP/1.x request line (RFC 9112 §3:
// method SP request-target SP "HTTP/1.x" CRLF) or a status line ("HTTP/1.x" SP three
// digits). The method is 1-20 letters, "-" or "_" (lower case too: servers accept
// it and some clients send it); the target any run of bytes above space. The request
// line must end within the bytes inspected. RTSP, SIP and ICAP have request lines of
// the same shape but another version token, so they are not http.
func httpRule(c *ctx, b []byte) match {
	if bytes.HasPrefix(b, h2Preface) {
		return match{proto: HTTP2, final: true, role: roleClient}
	}
	if httpStatusLine(b) {
		return match{proto: HTTP, final: true, role: roleServer}
	}
	if httpRequestLine(b) {
		return match{proto: HTTP, final: true, role: roleClient, meta: metaHTTP}
	}
	return match{}
}

func httpRequestLine(b []byte) bool {
	i := 0
	for i < len(b) && i <= 20 && (isLetter(b[i]) || b[i] == '-' || b[i] == '_') {
		i++
	}
	if i == 0 || i > 20 || i >= len(b) || b[i] != ' ' {
		return false
	}
	j := i + 1
	for j < len(b) && b[j] > ' ' && b[j] != 0x7f {
		j++
	}
	if j == i+1 || j >= len(b) || b[j] != ' ' {
		return false
	}
	v := b[j+1:]
	if len(v) < 9 || !bytes.HasPrefix(v, []byte("HTTP/1.")) || (v[7] != '0' && v[7] != '1') {
		return false
	}
	return v[8] == '\n' || (v[8] == '\r' && len(v) > 9 && v[9] == '\n')
}

func httpStatusLine(b []byte) bool {
	if len(b) < 13 || !bytes.HasPrefix(b, []byte("HTTP/1.")) || (b[7] != '0' && b[7] != '1') || b[8] != ' ' {
		return false
	}
	return isDigit(b[9]) && isDigit(b[10]) && isDigit(b[11]) && (b[12] == ' ' || b[12] == '\r' || b[12] == '\n')
}

// httpHost returns the value of the first Host header of the request at the start
// of b, trimmed of spaces and tabs, when its line ends within b and the value is 1 to
// MaxMeta bytes; else nil.
func httpHost(b []byte) []byte {
	_, ended := firstLine(b)
	if !ended {
		return nil
	}
	b = b[bytes.IndexByte(b, '\n')+1:]
	for len(b) > 0 {
		l, ended := firstLine(b)
		if !ended || len(l) == 0 {
			return nil // the end of the headers, or of what was inspected
		}
		b = b[bytes.IndexByte(b, '\n')+1:]
		if len(l) < 5 || l[4] != ':' || !bytes.EqualFold(l[:4], []byte("host")) {
			continue
		}
		v := bytes.Trim(l[5:], " \t")
		if len(v) == 0 || len(v) > MaxMeta {
			return nil
		}
		return v
	}
	return nil
}

// lineRule recognises the line protocols whose first message is a banner or a
// command: SMTP, FTP, IMAP, POP3 and Redis, and syslog over TCP.
//
// A server's banner counts only as the first thing said on the flow (its first
// payload, the peer silent so far): "+OK" is also a Redis reply and "220" an FTP
// reply, but not before the client spoke. A "220" banner naming SMTP (or ESMTP) is
// smtp, one naming FTP is ftp; one naming neither waits for the client's first
// command (EHLO or HELO: smtp; USER, AUTH, FEAT, SYST, OPTS, HOST, CLNT: ftp).
// Without a banner, EHLO/HELO is smtp, a tagged IMAP command is imap, CAPA/STLS/APOP
// is pop3 (USER alone is FTP or POP3, so nothing); an inline PING is redis only when
// the peer answers +PONG (or -NOAUTH).
func lineRule(c *ctx, b []byte) match {
	if c.awaited {
		switch c.hint {
		case hint220:
			switch command(b) {
			case "EHLO", "HELO":
				return match{proto: SMTP, final: true, role: roleClient}
			case "USER", "AUTH", "FEAT", "SYST", "OPTS", "HOST", "CLNT":
				return match{proto: FTP, final: true, role: roleClient}
			}
		case hintPing:
			if bytes.Equal(b, []byte("+PONG\r\n")) || bytes.HasPrefix(b, []byte("-NOAUTH ")) {
				return match{proto: Redis, final: true, role: roleServer}
			}
		}
	}
	if respCommand(b) {
		return match{proto: Redis, final: true, role: roleClient}
	}
	if c.first && c.peer == 0 {
		if l, ended := firstLine(b); ended {
			switch {
			case len(l) >= 4 && l[0] == '2' && l[1] == '2' && l[2] == '0' && (l[3] == ' ' || l[3] == '-'):
				switch {
				case containsFold(l[4:], "SMTP"):
					return match{proto: SMTP, final: true, role: roleServer}
				case containsFold(l[4:], "FTP"):
					return match{proto: FTP, final: true, role: roleServer}
				}
				return match{hint: hint220, peer: true}
			case bytes.HasPrefix(l, []byte("* OK ")) || bytes.HasPrefix(l, []byte("* PREAUTH ")) || bytes.HasPrefix(l, []byte("* BYE ")):
				return match{proto: IMAP, final: true, role: roleServer}
			case bytes.Equal(l, []byte("+OK")) || bytes.HasPrefix(l, []byte("+OK ")):
				return match{proto: POP3, final: true, role: roleServer}
			}
		}
	}
	switch cmd := command(b); {
	case (cmd == "EHLO" || cmd == "HELO") && len(b) > 7:
		return match{proto: SMTP, final: true, role: roleClient}
	case cmd == "CAPA" || cmd == "STLS" || cmd == "APOP":
		return match{proto: POP3, final: true, role: roleClient}
	case imapCommand(b):
		return match{proto: IMAP, final: true, role: roleClient}
	case bytes.Equal(b, []byte("PING\r\n")):
		return match{hint: hintPing, peer: true}
	}
	if syslogTCP(b) {
		return match{proto: Syslog, final: true, role: roleClient}
	}
	return match{}
}

// command returns the upper-cased four-letter command that starts the single line
// b (followed by a space or the line end), or "".
func command(b []byte) string {
	if len(b) < 6 || b[len(b)-1] != '\n' || bytes.IndexByte(b, '\n') != len(b)-1 {
		return ""
	}
	var u [4]byte
	for i := range 4 {
		if !isLetter(b[i]) {
			return ""
		}
		u[i] = b[i] &^ 0x20
	}
	if b[4] != ' ' && b[4] != '\r' && b[4] != '\n' {
		return ""
	}
	switch string(u[:]) { // constant strings: no allocation
	case "EHLO":
		return "EHLO"
	case "HELO":
		return "HELO"
	case "USER":
		return "USER"
	case "AUTH":
		return "AUTH"
	case "FEAT":
		return "FEAT"
	case "SYST":
		return "SYST"
	case "OPTS":
		return "OPTS"
	case "HOST":
		return "HOST"
	case "CLNT":
		return "CLNT"
	case "CAPA":
		return "CAPA"
	case "STLS":
		return "STLS"
	case "APOP":
		return "APOP"
	}
	return ""
}

// imapCommands are the commands an IMAP client starts with (RFC 9051 §6.1-6.2).
var imapCommands = [...]string{"CAPABILITY", "LOGIN", "AUTHENTICATE", "STARTTLS", "ID", "NOOP", "LOGOUT", "ENABLE"}

// imapCommand recognises a tagged IMAP command line: a tag of 1-32 letters, digits
// or ".", a space, one of imapCommands, then a space or the line end.
func imapCommand(b []byte) bool {
	l, ended := firstLine(b)
	if !ended {
		return false
	}
	i := 0
	for i < len(l) && i <= 32 && (isLetter(l[i]) || isDigit(l[i]) || l[i] == '.') {
		i++
	}
	if i == 0 || i > 32 || i >= len(l) || l[i] != ' ' {
		return false
	}
	rest := l[i+1:]
	for _, cmd := range imapCommands {
		if len(rest) >= len(cmd) && bytes.EqualFold(rest[:len(cmd)], []byte(cmd)) && (len(rest) == len(cmd) || rest[len(cmd)] == ' ') {
			return true
		}
	}
	return false
}

// respCommand recognises a Redis command in RESP: an array of 1-999 elements whose
// first is a bulk string of 1-32 letters (the command name), each part ended by
// CR LF (https://redis.io/docs/latest/develop/reference/protocol-spec/).
func respCommand(b []byte) bool {
	if len(b) < 10 || b[0] != '*' {
		return false
	}
	i := digits(b, 1)
	if i == 1 || i > 4 || b[1] == '0' || !crlf(b, i) {
		return false
	}
	i += 2
	if i >= len(b) || b[i] != '$' {
		return false
	}
	j := digits(b, i+1)
	if j == i+1 || j > i+3 || !crlf(b, j) {
		return false
	}
	n := atoi(b[i+1 : j])
	name := j + 2
	if n == 0 || n > 32 || name+n+2 > len(b) || !crlf(b, name+n) {
		return false
	}
	for _, ch := range b[name : name+n] {
		if !isLetter(ch) {
			return false
		}
	}
	return true
}

// syslogMsg recognises a syslog message: "<PRI>" (PRI 0-191, no leading zero)
// followed by at least 4 bytes of text, every byte inspected being printable ASCII,
// UTF-8 (0x80 and above), tab, CR or LF, or NUL at the very end (some senders end a
// message with one). Senders follow RFC 5424 ("<13>1 2026-..."), RFC 3164 ("<13>Dec
// 6 20:56:08 host tag: ...") or neither (Cisco IOS puts a sequence number first,
// ScreenOS a device name, storage firmware its own date format), so the header after
// PRI is not checked. A number in angle brackets and then only text is what no other
// datagram or stream starts with (XML starts with "<?" or "<name"), without the port.
func syslogMsg(b []byte) bool {
	if len(b) < 4 || b[0] != '<' {
		return false
	}
	i := digits(b, 1)
	if i == 1 || i > 4 || (i > 2 && b[1] == '0') || i >= len(b) || b[i] != '>' || atoi(b[1:i]) > 191 {
		return false
	}
	text := b[i+1:]
	if len(text) > 0 && text[len(text)-1] == 0 {
		text = text[:len(text)-1]
	}
	if len(text) < 4 {
		return false
	}
	for _, ch := range text {
		if ch < ' ' && ch != '\t' && ch != '\r' && ch != '\n' || ch == 0x7f {
			return false
		}
	}
	return true
}

// syslogTCP recognises syslog over TCP (RFC 6587): octet counting ("LEN SP" before
// the message, §3.4.1) or a message straight away (non-transparent framing, §3.4.2).
func syslogTCP(b []byte) bool {
	if i := digits(b, 0); i > 0 && i <= 5 && b[0] != '0' && i < len(b) && b[i] == ' ' {
		return syslogMsg(b[i+1:])
	}
	return syslogMsg(b)
}

func syslogRule(c *ctx, b []byte) match {
	if syslogMsg(b) {
		return match{proto: Syslog, final: true, role: roleClient}
	}
	return match{}
}

// firstLine returns the first line of b without LF or CR LF, and whether it ended
// within b.
func firstLine(b []byte) ([]byte, bool) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return b, false
	}
	l := b[:nl]
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	return l, true
}

// containsFold reports whether b contains the upper-case ASCII word w, in any case.
func containsFold(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		j := 0
		for j < len(w) && b[i+j]&^0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// printable reports whether b is text: printable ASCII, tab and CR.
func printable(b []byte) bool {
	for _, ch := range b {
		if (ch < ' ' && ch != '\t' && ch != '\r') || ch > '~' {
			return false
		}
	}
	return true
}

func isDigit(ch byte) bool  { return ch >= '0' && ch <= '9' }
func isLetter(ch byte) bool { return (ch|0x20) >= 'a' && (ch|0x20) <= 'z' }

// digits returns the index of the first non-digit of b at or after i.
func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// atoi converts a short run of digits (at most 9).
func atoi(b []byte) int {
	n := 0
	for _, ch := range b {
		n = n*10 + int(ch-'0')
	}
	return n
}

// crlf reports whether b has CR LF at i.
func crlf(b []byte, i int) bool { return i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' }
