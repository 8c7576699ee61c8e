package reports

import (
	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/ports"
)

// rec is the classified flow of a flow record written by hand in a test, as the loader
// reads it, with defaults for what the test leaves out: endpoints 192.0.2.1:40000 →
// 192.0.2.2:80 (bare addresses without ports), direction "syn", and the server port's
// class. It panics on a record the loader refuses.
func rec(r rawRecord) classify.Flow {
	p, _ := capture.ParseProtoName(r.Proto)
	if r.Client == "" {
		r.Client = "192.0.2.1"
		if capture.HasPorts(p) {
			r.Client += ":40000"
		}
	}
	if r.Server == "" {
		r.Server = "192.0.2.2"
		if capture.HasPorts(p) {
			r.Server += ":80"
		}
	}
	if r.Direction == "" {
		r.Direction = "syn"
	}
	if r.PortClass == "" && capture.HasPorts(p) {
		ap, _ := parseEndpoint(p, r.Server)
		r.PortClass = ports.ClassOf(ap.Port()).String()
	}
	f, err := r.flow()
	if err != nil {
		panic(err)
	}
	return f
}
