// Package ipfixread is a strict reader of IPFIX messages (RFC 7011) for tests: the
// oracle that reports.IPFIXWriter's output and pipeline.Exporter's datagrams are
// checked against, independent of the writer's code. It checks what a collector
// relies on (version, lengths, set bounds, templates before their data, records that
// fill their sets exactly, sequence numbers that count the data records) and returns
// the records as element values keyed by name.
//
// It is only imported by tests.
package ipfixread

import (
	"encoding/binary"
	"fmt"
)

// Field is one field specifier of a template.
type Field struct {
	ID     uint16 // without the enterprise bit
	Length uint16 // 0xffff: variable length
	PEN    uint32 // 0: an IANA element
}

// Key names a field in Record: "ID" for IANA elements, "PEN/ID" for others
// (e.g. "29305/1" for reverse octetDeltaCount).
func (f Field) Key() string {
	if f.PEN == 0 {
		return fmt.Sprint(f.ID)
	}
	return fmt.Sprintf("%d/%d", f.PEN, f.ID)
}

// Record is one data record: each field's raw bytes by Key (a template that names an
// element twice keeps the last), and its template.
type Record struct {
	Template uint16
	Values   map[string][]byte
}

// Uint returns the unsigned value of field key (big-endian, any length up to 8).
func (r Record) Uint(key string) uint64 {
	var v uint64
	for _, b := range r.Values[key] {
		v = v<<8 | uint64(b)
	}
	return v
}

// String returns field key as a string.
func (r Record) String(key string) string { return string(r.Values[key]) }

// Message is one decoded message.
type Message struct {
	Length     int
	ExportTime uint32
	Sequence   uint32
	Domain     uint32
	Templates  []uint16 // IDs of the templates it defines, in order
	Records    []Record
}

// Stream decodes consecutive messages of one stream (a file, a TCP connection, the
// datagrams of a UDP exporter) and keeps the templates and the sequence count
// between them.
type Stream struct {
	templates map[uint32]map[uint16][]Field // by domain
	next      map[uint32]uint32             // expected sequence number by domain
	started   map[uint32]bool
}

// NewStream returns an empty stream.
func NewStream() *Stream {
	return &Stream{templates: map[uint32]map[uint16][]Field{}, next: map[uint32]uint32{}, started: map[uint32]bool{}}
}

// Template returns the fields of template id in domain.
func (s *Stream) Template(domain uint32, id uint16) []Field { return s.templates[domain][id] }

// Split cuts b, a file of messages, into messages by their length fields.
func Split(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 16 {
			return nil, fmt.Errorf("offset %d: %d bytes left, less than a message header", off, len(b)-off)
		}
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n < 16 || off+n > len(b) {
			return nil, fmt.Errorf("offset %d: message length %d past the end (%d bytes)", off, n, len(b))
		}
		out = append(out, b[off:off+n])
		off += n
	}
	return out, nil
}

// Decode decodes one message. A sequence number that is not the count of the data
// records before the message in its domain is an error (a message lost in between,
// or the writer's fault), as is anything malformed.
func (s *Stream) Decode(b []byte) (m Message, err error) {
	if len(b) < 16 {
		return m, fmt.Errorf("message of %d bytes", len(b))
	}
	if v := binary.BigEndian.Uint16(b); v != 10 {
		return m, fmt.Errorf("version %d, want 10", v)
	}
	m.Length = int(binary.BigEndian.Uint16(b[2:]))
	if m.Length != len(b) {
		return m, fmt.Errorf("length field %d, message of %d bytes", m.Length, len(b))
	}
	m.ExportTime = binary.BigEndian.Uint32(b[4:])
	m.Sequence = binary.BigEndian.Uint32(b[8:])
	m.Domain = binary.BigEndian.Uint32(b[12:])
	if s.started[m.Domain] && m.Sequence != s.next[m.Domain] {
		return m, fmt.Errorf("sequence number %d, want %d (data records before this message)", m.Sequence, s.next[m.Domain])
	}
	s.started[m.Domain] = true
	tm := s.templates[m.Domain]
	if tm == nil {
		tm = map[uint16][]Field{}
		s.templates[m.Domain] = tm
	}
	for off := 16; off < len(b); {
		if len(b)-off < 4 {
			return m, fmt.Errorf("offset %d: %d bytes left, less than a set header", off, len(b)-off)
		}
		id := binary.BigEndian.Uint16(b[off:])
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n < 4 || off+n > len(b) {
			return m, fmt.Errorf("offset %d: set %d of length %d past the message", off, id, n)
		}
		body := b[off+4 : off+n]
		switch {
		case id == 2:
			ids, err := decodeTemplates(body, tm)
			if err != nil {
				return m, fmt.Errorf("offset %d: template set: %w", off, err)
			}
			m.Templates = append(m.Templates, ids...)
		case id >= 256:
			fs, ok := tm[id]
			if !ok {
				return m, fmt.Errorf("offset %d: data set %d before its template", off, id)
			}
			recs, err := decodeRecords(body, id, fs)
			if err != nil {
				return m, fmt.Errorf("offset %d: data set %d: %w", off, id, err)
			}
			m.Records = append(m.Records, recs...)
		default:
			return m, fmt.Errorf("offset %d: set id %d is reserved or an options template (not written by portclass)", off, id)
		}
		off += n
	}
	s.next[m.Domain] = m.Sequence + uint32(len(m.Records))
	return m, nil
}

func decodeTemplates(b []byte, tm map[uint16][]Field) ([]uint16, error) {
	var ids []uint16
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%d bytes left, less than a template header (padding is not written)", len(b))
		}
		id, count := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if id < 256 {
			return nil, fmt.Errorf("template id %d below 256", id)
		}
		if count == 0 {
			return nil, fmt.Errorf("template %d: withdrawal (not written by portclass)", id)
		}
		b = b[4:]
		fs := make([]Field, 0, count)
		for range count {
			if len(b) < 4 {
				return nil, fmt.Errorf("template %d: field specifier cut", id)
			}
			f := Field{ID: binary.BigEndian.Uint16(b) &^ 0x8000, Length: binary.BigEndian.Uint16(b[2:])}
			ent := binary.BigEndian.Uint16(b)&0x8000 != 0
			b = b[4:]
			if ent {
				if len(b) < 4 {
					return nil, fmt.Errorf("template %d: enterprise number cut", id)
				}
				f.PEN = binary.BigEndian.Uint32(b)
				b = b[4:]
			}
			if f.Length == 0 {
				return nil, fmt.Errorf("template %d: field %s of length 0", id, f.Key())
			}
			fs = append(fs, f)
		}
		tm[id] = fs
		ids = append(ids, id)
	}
	return ids, nil
}

func decodeRecords(b []byte, id uint16, fs []Field) ([]Record, error) {
	var out []Record
	for len(b) > 0 {
		r := Record{Template: id, Values: make(map[string][]byte, len(fs))}
		for _, f := range fs {
			n := int(f.Length)
			if f.Length == 0xffff {
				if len(b) < 1 {
					return nil, fmt.Errorf("record %d: field %s: length cut", len(out)+1, f.Key())
				}
				n, b = int(b[0]), b[1:]
				if n == 255 {
					if len(b) < 2 {
						return nil, fmt.Errorf("record %d: field %s: long length cut", len(out)+1, f.Key())
					}
					n, b = int(binary.BigEndian.Uint16(b)), b[2:]
					if n < 255 {
						return nil, fmt.Errorf("record %d: field %s: %d bytes in the 3-byte form", len(out)+1, f.Key(), n)
					}
				}
			}
			if len(b) < n {
				return nil, fmt.Errorf("record %d: field %s: %d bytes, %d left (records must fill the set exactly)", len(out)+1, f.Key(), n, len(b))
			}
			r.Values[f.Key()] = b[:n]
			b = b[n:]
		}
		out = append(out, r)
	}
	return out, nil
}
