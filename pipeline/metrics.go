package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/reports"
)

// maxPortLabels bounds the distinct port label values of the dynamic-port metrics;
// further ports are counted under port="other", so a port scan cannot blow up the
// number of series.
const maxPortLabels = 1000

// liveMetrics are the Prometheus metrics of a live capture. Flow metrics are brought up
// to date at every interval of the capture (--metrics-every) from the interval's
// classified records, so they agree with the reports: packets and bytes grow while a
// flow is open (status records), a flow is counted once, when it ends. Interface and
// kernel counters are read at every scrape.
type liveMetrics struct {
	packets, bytes *prometheus.CounterVec // proto, port_class
	flows          *prometheus.CounterVec // proto, port_class
	dynFlows       *prometheus.CounterVec // proto, port, unexplained
	dynBytes       *prometheus.CounterVec // proto, port
	veeamFlows     *prometheus.CounterVec // rule
	veeamBytes     *prometheus.CounterVec // rule
	input          *prometheus.CounterVec // outcome
	reports        prometheus.Counter
	lastReport     prometheus.Gauge

	ports map[string]bool // port labels in use (only observe touches it)

	mu     sync.Mutex
	live   *capture.Live
	export *Exporter
}

// ifDescs are the descriptions of the interface counters: packets, bytes, kernel
// received, kernel dropped. They are made on first use, not by main's initialiser that
// every command runs.
var ifDescs = sync.OnceValue(func() [4]*prometheus.Desc {
	return [4]*prometheus.Desc{
		prometheus.NewDesc("portclass_interface_packets_total", "Packets read from the interface's kernel ring.", []string{"interface"}, nil),
		prometheus.NewDesc("portclass_interface_bytes_total", "Wire bytes of the packets read from the interface.", []string{"interface"}, nil),
		prometheus.NewDesc("portclass_kernel_received_packets_total", "Packets the kernel passed the filter and to the ring (read or dropped).", []string{"interface"}, nil),
		prometheus.NewDesc("portclass_kernel_dropped_packets_total", "Packets the kernel dropped because the ring was full.", []string{"interface"}, nil),
	}
})

func newMetrics(reg prometheus.Registerer) *liveMetrics {
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portclass_" + name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	m := &liveMetrics{
		packets:    f("packets_total", "Packets of flows, both directions, by protocol and IANA class of the server port.", "proto", "port_class"),
		bytes:      f("bytes_total", "Wire bytes of flows, both directions, by protocol and IANA class of the server port.", "proto", "port_class"),
		flows:      f("flows_total", "Flows ended, by protocol and IANA class of the server port.", "proto", "port_class"),
		dynFlows:   f("dynamic_server_port_flows_total", "Flows ended whose server port is in the dynamic range 49152-65535, by port and whether nothing explains it.", "proto", "port", "unexplained"),
		dynBytes:   f("dynamic_server_port_bytes_total", "Wire bytes of flows whose server port is in the dynamic range 49152-65535.", "proto", "port"),
		veeamFlows: f("veeam_flows_total", "Flows ended that a Veeam Backup & Replication rule explains, by rule.", "rule"),
		veeamBytes: f("veeam_bytes_total", "Wire bytes of flows that a Veeam rule explains, by rule.", "rule"),
		input:      f("input_packets_total", "Packets read, by what became of them: decoded, non_ip, decode_error, unsupported, filtered (in portclass).", "outcome"),
		reports:    prometheus.NewCounter(prometheus.CounterOpts{Name: "portclass_reports_written_total", Help: "Reports written."}),
		lastReport: prometheus.NewGauge(prometheus.GaugeOpts{Name: "portclass_last_report_timestamp_seconds", Help: "When the last report was written (Unix time)."}),
		ports:      map[string]bool{},
	}
	reg.MustRegister(m.reports, m.lastReport, m)
	return m
}

// watch makes the interface and kernel counters of l part of every scrape.
func (m *liveMetrics) watch(l *capture.Live) {
	m.mu.Lock()
	m.live = l
	m.mu.Unlock()
}

// watchExport makes the IPFIX exporter's counters part of every scrape.
func (m *liveMetrics) watchExport(e *Exporter) {
	m.mu.Lock()
	m.export = e
	m.mu.Unlock()
}

// exportDescs are the descriptions of the IPFIX exporter's counters: messages and
// records, each by result ("sent", "failed").
var exportDescs = sync.OnceValue(func() [2]*prometheus.Desc {
	return [2]*prometheus.Desc{
		prometheus.NewDesc("portclass_ipfix_messages_total", "IPFIX messages exported, by result: sent (handed to the network) or failed (refused, unreachable, not connected).", []string{"collector", "result"}, nil),
		prometheus.NewDesc("portclass_ipfix_records_total", "Flow records in the IPFIX messages, by result: sent or failed.", []string{"collector", "result"}, nil),
	}
})

// Describe implements prometheus.Collector for the interface and export counters.
func (m *liveMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range ifDescs() {
		ch <- d
	}
	for _, d := range exportDescs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the live capture's interface counters.
func (m *liveMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	l, e := m.live, m.export
	m.mu.Unlock()
	if e != nil {
		st, ds, c := e.Stats(), exportDescs(), e.Target()
		ch <- prometheus.MustNewConstMetric(ds[0], prometheus.CounterValue, float64(st.MessagesSent), c, "sent")
		ch <- prometheus.MustNewConstMetric(ds[0], prometheus.CounterValue, float64(st.MessagesFailed), c, "failed")
		ch <- prometheus.MustNewConstMetric(ds[1], prometheus.CounterValue, float64(st.RecordsSent), c, "sent")
		ch <- prometheus.MustNewConstMetric(ds[1], prometheus.CounterValue, float64(st.RecordsFailed), c, "failed")
	}
	if l == nil {
		return
	}
	ds := ifDescs()
	for _, s := range l.Stats() {
		for i, v := range [4]uint64{s.Packets, s.Bytes, s.KernelReceived, s.KernelDropped} {
			ch <- prometheus.MustNewConstMetric(ds[i], prometheus.CounterValue, float64(v), s.Name)
		}
	}
}

// observe adds the records and input statistics of one interval's summary.
func (m *liveMetrics) observe(s *reports.Summary) error {
	err := s.EachFlow(func(r *classify.Flow) error {
		proto := capture.ProtoName(r.Proto)
		class := r.PortClass.String()
		if class == "" {
			class = "none"
		}
		ended := r.End != capture.EndActive
		pk, by := float64(r.Packets()), float64(r.Bytes())
		m.packets.WithLabelValues(proto, class).Add(pk)
		m.bytes.WithLabelValues(proto, class).Add(by)
		if ended {
			m.flows.WithLabelValues(proto, class).Inc()
		}
		if r.Flags.Has(classify.FlagDynamicServer) {
			port := "other"
			if capture.HasPorts(r.Proto) {
				port = strconv.Itoa(int(r.Server.Port()))
				if !m.ports[port] && len(m.ports) >= maxPortLabels {
					port = "other"
				}
				m.ports[port] = true
			}
			m.dynBytes.WithLabelValues(proto, port).Add(by)
			if ended {
				m.dynFlows.WithLabelValues(proto, port, strconv.FormatBool(r.Flags.Has(classify.FlagUnexplained))).Inc()
			}
		}
		for _, v := range r.Veeam {
			m.veeamBytes.WithLabelValues(v.ID()).Add(by)
			if ended {
				m.veeamFlows.WithLabelValues(v.ID()).Inc()
			}
		}
		return nil
	})
	for _, in := range s.Inputs {
		var unsupported uint64
		for _, n := range in.Unsupported {
			unsupported += n
		}
		for outcome, n := range map[string]uint64{"decoded": in.Decoded, "non_ip": in.NonIP, "decode_error": in.DecodeErrors,
			"unsupported": unsupported, "filtered": in.Filtered} {
			m.input.WithLabelValues(outcome).Add(float64(n))
		}
	}
	return err
}

// reported counts a report written.
func (m *liveMetrics) reported() {
	m.reports.Inc()
	m.lastReport.SetToCurrentTime()
}

// Metrics serves the metrics of live sessions over HTTP at /metrics.
type Metrics struct {
	m    *liveMetrics
	srv  *http.Server
	addr net.Addr
}

// ServeMetrics listens on addr (before privileges are dropped, so that a port below
// 1024 works) and serves the portclass metrics plus the Go runtime's and the process's
// (RSS, CPU, open files). Close stops it.
func ServeMetrics(addr string, log zerolog.Logger) (*Metrics, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Metrics{m: newMetrics(reg), addr: ln.Addr()}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	log.Info().Str("address", "http://"+ln.Addr().String()+"/metrics").Msg("serving Prometheus metrics")
	return s, nil
}

// Addr is the address the metrics are served on.
func (s *Metrics) Addr() net.Addr { return s.addr }

// Close stops serving.
func (s *Metrics) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
