package ports

// Class is the IANA range a port number falls in (RFC 6335 section 6). The zero
// value, ClassNone, is used for protocols without ports.
type Class uint8

const (
	ClassNone       Class = iota // protocol has no ports
	ClassWellKnown               // 0-1023 ("system ports")
	ClassRegistered              // 1024-49151 ("user ports")
	ClassDynamic                 // 49152-65535 ("dynamic and/or private ports")
)

var classNames = [...]string{"", "well-known", "registered", "dynamic"}

// String is the flow record's port_class value: "well-known", "registered", "dynamic" or "".
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return ""
}

// ClassOf returns the IANA class of port.
func ClassOf(port uint16) Class {
	switch {
	case port <= 1023:
		return ClassWellKnown
	case port <= 49151:
		return ClassRegistered
	}
	return ClassDynamic
}
