package capture

import (
	"fmt"

	"github.com/portclass/portclass/capture/appid"
)

// AppMeta is what the first payloads of a flow said besides its application
// protocol (see capture/appid). Strings are the bytes on the wire: unvalidated, any
// byte, at most appid.MaxMeta long; escaping them is the reports' business. A Flow
// and its copies share one AppMeta, which nobody modifies once it is in a Flow.
type AppMeta struct {
	SNI       string // TLS server_name of the ClientHello (also after a PostgreSQL or RDP upgrade)
	ALPN      string // TLS ALPN protocol names the client offered, joined by ","
	HTTPHost  string // the Host header of the first HTTP/1.x request
	SSHBanner string // the server's SSH identification string, without CR LF
}

// String shows the fields, quoted, for logs and tests ("<nil>" for none).
func (m *AppMeta) String() string {
	if m == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{SNI:%q ALPN:%q HTTPHost:%q SSHBanner:%q}", m.SNI, m.ALPN, m.HTTPHost, m.SSHBanner)
}

// IsZero reports whether m holds nothing.
func (m *AppMeta) IsZero() bool { return m == nil || *m == AppMeta{} }

// The application identification of a flow (see table.identify). It costs a flow
// entry nothing: an entry keeps its rare parts behind one pointer (entry.x, an
// extra), and TCP and UDP flows, which have no ICMP type and code, keep the end of
// their identification in those two bytes (appDone, the protocol). What a flow costs
// besides its entry:
//
//   - before its first payload, and once identified without metadata: nothing;
//   - while identification runs (a flow whose first payloads have not decided yet, or
//     one that never decides: a side silent and nothing recognised): an extra, 64
//     bytes, plus while metadata is being taken an appid.Meta (144 bytes and its
//     strings), both from the table's pools and given back when identification ends
//     or the flow does, so that the packets after a flow's first ones allocate
//     nothing;
//   - once identified with metadata (TLS, HTTP, SSH): the extra and the AppMeta (64
//     bytes and its strings), until the flow ends.

// extra holds the rare parts of a flow entry.
type extra struct {
	errs []ICMPError // ICMP errors that quoted the flow, at most 8; nil when none
	st   appid.State // the identification, while busy
	busy bool        // identification runs
	take *appid.Meta // the metadata taken while identification runs (SSH banners by key side); nil before any
	meta *AppMeta    // the metadata of a finished identification; nil when none
}

// entry.icmpCode of a TCP or UDP flow: bit side (appStop<<side) is set once the
// identification reads no more of side's payloads (appid.State.Spent), so that the
// table stops handing them over without looking at the extra; both bits (appDone)
// once it has ended, with the protocol in entry.icmpType.
const (
	appStop = 1
	appDone = appStop | appStop<<1
)

// identify feeds payload, sent by key side, to the identification of TCP or UDP flow
// e, which has not ended.
func (t *table) identify(e *entry, side uint8, payload []byte) {
	x := e.x
	if x == nil {
		x = t.newExtra()
		e.x = x
	}
	x.busy = true
	done := x.st.Feed(appid.Transport(e.key.proto), side, payload)
	if x.st.HasMeta() {
		if x.take == nil {
			if n := len(t.metas); n > 0 {
				x.take = t.metas[n-1]
				t.metas = t.metas[:n-1]
			} else {
				x.take = new(appid.Meta)
			}
		}
		x.st.Take(x.take, payload)
	}
	if !done {
		if x.st.Spent(side) {
			e.icmpCode |= appStop << side
		}
		return
	}
	e.icmpType, e.icmpCode = uint8(x.st.Protocol()), appDone
	x.meta = appMetaOf(x.take, e.client)
	t.endIdent(x)
	if x.errs == nil && x.meta == nil {
		e.x = nil
		t.extras = append(t.extras, x)
	}
}

// appOf is the application protocol and metadata of TCP or UDP flow e so far. The
// AppMeta of an identification still running is a copy, so that the one handed out
// never changes.
func (e *entry) appOf() (appid.Protocol, *AppMeta) {
	x := e.x
	switch {
	case e.icmpCode == appDone && x != nil:
		return appid.Protocol(e.icmpType), x.meta
	case e.icmpCode == appDone:
		return appid.Protocol(e.icmpType), nil
	case x != nil && x.busy:
		return x.st.Protocol(), appMetaOf(x.take, e.client)
	}
	return appid.Unknown, nil
}

// appMetaOf is the AppMeta of what was taken into m (nil: nothing), with the SSH
// banner of the server (the key side other than client); nil when m holds nothing.
func appMetaOf(m *appid.Meta, client uint8) *AppMeta {
	if m == nil {
		return nil
	}
	a := AppMeta{SNI: m.SNI, ALPN: m.ALPN, HTTPHost: m.HTTPHost, SSHBanner: m.SSHBanner[1-client&1]}
	if a.IsZero() {
		return nil
	}
	return &a
}

func (t *table) newExtra() *extra {
	if n := len(t.extras); n > 0 {
		x := t.extras[n-1]
		t.extras = t.extras[:n-1]
		return x
	}
	return new(extra)
}

// endIdent ends x's identification: its appid.Meta goes back to the pool, without
// the strings and buffer it holds.
func (t *table) endIdent(x *extra) {
	x.st, x.busy = appid.State{}, false
	if x.take != nil {
		*x.take = appid.Meta{}
		t.metas = append(t.metas, x.take)
		x.take = nil
	}
}

// release gives e's extra back to the pool when its flow ends. The ICMP errors and
// the AppMeta belong to the flow's record now, so they are not kept.
func (t *table) release(e *entry) {
	x := e.x
	if x == nil {
		return
	}
	t.endIdent(x)
	*x = extra{}
	t.extras = append(t.extras, x)
	e.x = nil
}
