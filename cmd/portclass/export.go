package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/portclass/portclass/pipeline"
	"github.com/portclass/portclass/reports"
)

// ExportConfig is the configuration of the export to an IPFIX collector and of the
// IPFIX format (top-level keys, shared by analyze, capture and merge; squashed into
// Config).
type ExportConfig struct {
	IPFIX            string `mapstructure:"ipfix"`              // collector: HOST:PORT (UDP), udp://..., tcp://...; "" for none
	IPFIXPEN         uint32 `mapstructure:"ipfix-pen"`          // private enterprise number of portclass's elements; 0: none
	IPFIXMessageSize int    `mapstructure:"ipfix-message-size"` // bytes per message, header included
	IPFIXDomain      uint32 `mapstructure:"ipfix-domain"`       // observation domain ID
}

func exportDefaults(v *viper.Viper) {
	v.SetDefault("ipfix", "")
	v.SetDefault("ipfix-pen", 0)
	v.SetDefault("ipfix-message-size", reports.DefaultIPFIXMessageSize)
	v.SetDefault("ipfix-domain", reports.DefaultIPFIXDomain)
}

// exportFlags adds the IPFIX flags to a command that writes summaries.
func exportFlags(fs *pflag.FlagSet) {
	fs.String("ipfix", "", "also export every flow record to this IPFIX collector: HOST:PORT (UDP), udp://HOST:PORT or tcp://HOST:PORT; a collector that is down costs no report")
	fs.Uint32("ipfix-pen", 0, "IANA private enterprise number under which portclass's verdicts (port class, state, Veeam rules, flags, service, direction, outcome) are exported; 0: standard elements only")
	fs.Int("ipfix-message-size", reports.DefaultIPFIXMessageSize, "bytes per IPFIX message, header included (one UDP datagram)")
	fs.Uint32("ipfix-domain", reports.DefaultIPFIXDomain, "IPFIX observation domain ID (give each exporter on one host its own)")
}

// ipfixOptions are the IPFIX message options of the configuration.
func (c *Config) ipfixOptions() reports.IPFIXOptions {
	return reports.IPFIXOptions{PEN: c.IPFIXPEN, MessageSize: c.IPFIXMessageSize, Domain: c.IPFIXDomain}
}

// exporter returns the exporter of --ipfix, nil without one. Its errors are usage
// errors: a target that is no HOST:PORT, a message size out of range.
func (a *app) exporter() (*pipeline.Exporter, error) {
	if a.cfg.IPFIX == "" {
		return nil, nil
	}
	if a.cfg.NoFlows {
		return nil, usageErr(errors.New("--ipfix exports the flow records: it cannot go with --no-flows"))
	}
	e, err := pipeline.NewExporter(a.cfg.IPFIX, a.cfg.ipfixOptions(), a.log)
	if err != nil {
		return nil, usageErr(err)
	}
	return e, nil
}

// configureEncoder applies the configuration to an encoder that has settings of its
// own (html: --html-max-flows; ipfix: the PEN, message size and domain; parquet:
// --workers 1 keeps its encoding on one goroutine). The binary
// formats, which are the flow records and nothing else, are refused with --no-flows
// and on a terminal.
func (a *app) configureEncoder(enc reports.Encoder[*reports.Summary]) (reports.Encoder[*reports.Summary], error) {
	switch enc.(type) {
	case reports.IPFIX, reports.Parquet:
		name := map[bool]string{true: "ipfix", false: "parquet"}[isIPFIX(enc)]
		if a.cfg.NoFlows {
			return nil, fmt.Errorf("--format %s writes the flow records: it cannot go with --no-flows", name)
		}
		if (a.cfg.Output == "" || a.cfg.Output == "-") && isTerminal(a.stdout) {
			return nil, fmt.Errorf("--format %s is binary: write it to a file (-o FILE) or redirect standard output", name)
		}
	}
	switch e := enc.(type) {
	case reports.HTML:
		e.MaxFlows = a.cfg.HTMLFlows
		return e, nil
	case reports.IPFIX:
		o := a.cfg.ipfixOptions()
		if err := o.Check(); err != nil {
			return nil, err
		}
		e.PEN, e.MessageSize, e.Domain = o.PEN, o.MessageSize, o.Domain
		return e, nil
	case reports.Parquet:
		e.Serial = a.cfg.Workers == 1
		return e, nil
	}
	return enc, nil
}

func isIPFIX(enc reports.Encoder[*reports.Summary]) bool {
	_, ok := enc.(reports.IPFIX)
	return ok
}
