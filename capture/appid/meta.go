package appid

import "strings"

// MaxMeta caps the length of each metadata string, in bytes. Longer values are not
// taken at all (a server name or Host of more than 255 bytes is not a DNS name, an
// SSH identification string is at most 255 bytes with its CR LF, RFC 4253 §4.2),
// except ALPN, which keeps the whole names that fit.
const MaxMeta = 255

// Meta is the metadata taken out of a flow's first messages. Strings are the bytes
// on the wire, unescaped and unvalidated (they may hold any byte: escaping them is
// the reports' business), and at most MaxMeta bytes long. The zero value is empty.
//
// A caller allocates one only for the flows whose State reports HasMeta, and keeps
// it with the flow until the record is written.
type Meta struct {
	SNI       string    // TLS server_name of the ClientHello (also after a PostgreSQL or RDP upgrade to TLS)
	ALPN      string    // TLS ALPN protocol names offered by the client, in order, joined by ","
	HTTPHost  string    // the Host header of the first HTTP/1.x request, value trimmed of blanks
	SSHBanner [2]string // the SSH identification string each side sent, indexed by side, without CR LF

	hello helloBuf // a ClientHello being collected across segments
}

// helloBuf collects the handshake bytes of a ClientHello split across TCP segments
// or TLS records: record headers are dropped as they go by. It holds at most
// MaxBytes, and none once the ClientHello is complete or has been parsed whole.
type helloBuf struct {
	buf    []byte  // handshake bytes so far
	want   int     // handshake bytes of the whole ClientHello (4 + its length), capped at MaxBytes
	rec    int     // bytes of the current record still to come
	hdr    [5]byte // a record header split across segments
	hdrN   int
	active bool
}

// Take copies the metadata of the payload last given to Feed into m, when HasMeta
// reports some. payload must be that payload (Take reads what Feed inspected of it
// again). Each string allocates once when it is set; a ClientHello split across
// segments also allocates a buffer of at most MaxBytes, released when it is
// complete. Take resets HasMeta, so a second call does nothing.
func (s *State) Take(m *Meta, payload []byte) {
	kind := s.meta
	s.meta = metaNone
	if kind == metaNone || m == nil {
		return
	}
	b := payload[:min(len(payload), int(s.last))]
	switch kind {
	case metaHello:
		m.hello = helloBuf{}
		m.takeHello(b)
	case metaHelloMore:
		if m.hello.active {
			m.takeHello(b)
		}
	case metaHTTP:
		if h := httpHost(b); h != nil {
			m.HTTPHost = string(h)
		}
	case metaSSH:
		if id, ok := sshIdent(b); ok && id != nil {
			m.SSHBanner[s.lastSide()] = string(id)
		}
	}
}

// takeHello adds the TCP payload b (the start of a ClientHello's record, or what
// follows it) and reads the server name and ALPN list from what has come so far.
func (m *Meta) takeHello(b []byte) {
	h := &m.hello
	if !h.active {
		// b starts with the record (tlsHandshake checked the first 44 bytes, unless the
		// caller gave Take another payload than Feed).
		if len(b) < 9 {
			return
		}
		rl := int(be16(b[3:]))
		h.want = min(4+int(be24(b[6:])), MaxBytes)
		if rec := b[5:min(len(b), 5+rl)]; len(rec) >= h.want {
			m.setHello(rec[:h.want]) // all in one record of one segment: no copy
			return
		}
		h.active = true
		h.buf = make([]byte, 0, h.want)
	}
	h.add(b)
	m.setHello(h.buf)
	if len(h.buf) >= h.want {
		*h = helloBuf{}
	}
}

// add appends the handshake bytes of TCP payload b, dropping record headers. The
// first call gives the payload that starts with the first record.
func (h *helloBuf) add(b []byte) {
	for len(b) > 0 && len(h.buf) < h.want {
		if h.rec == 0 {
			n := copy(h.hdr[h.hdrN:], b)
			h.hdrN += n
			b = b[n:]
			if h.hdrN < 5 {
				return
			}
			h.hdrN = 0
			if h.hdr[0] != 0x16 { // not a handshake record: the ClientHello is over
				h.want = len(h.buf)
				return
			}
			h.rec = int(be16(h.hdr[3:]))
			continue
		}
		n := min(len(b), h.rec, h.want-len(h.buf))
		h.buf = append(h.buf, b[:n]...)
		h.rec -= n
		b = b[n:]
	}
}

// setHello sets SNI and ALPN from ClientHello handshake bytes, each once: a
// ClientHello collected across segments is parsed again as it grows, and an
// extension once complete does not change.
func (m *Meta) setHello(hs []byte) {
	sni, alpn := helloFields(hs)
	if sni != nil && m.SNI == "" {
		m.SNI = string(sni)
	}
	if alpn != nil && m.ALPN == "" {
		m.ALPN = joinALPN(alpn)
	}
}

// joinALPN joins the names of an ALPN protocol_name_list with ",", keeping the whole
// names that fit in MaxMeta bytes.
func joinALPN(list []byte) string {
	var sb strings.Builder
	sb.Grow(min(len(list), MaxMeta))
	for len(list) > 0 {
		n := int(list[0])
		if n == 0 || 1+n > len(list) {
			break
		}
		name := list[1 : 1+n]
		list = list[1+n:]
		add := len(name)
		if sb.Len() > 0 {
			add++
		}
		if sb.Len()+add > MaxMeta {
			break
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.Write(name)
	}
	return sb.String()
}
