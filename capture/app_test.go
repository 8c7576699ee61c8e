package capture

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/portclass/portclass/capture/appid"
	"github.com/portclass/portclass/internal/corpus"
)

// TestAppCorpus runs captures of the shared corpus through the flow table and checks
// the application protocol and metadata of their flows: the payload the decoder
// hands over (innermost transport, inside tunnels too), the side numbering, the
// server's SSH banner, metadata taken across segments, with one worker and three.
func TestAppCorpus(t *testing.T) {
	dir := corpus.Pcaps(t)
	type want struct {
		server string
		app    appid.Protocol
		meta   *AppMeta
	}
	cases := []struct {
		file  string
		flows []want
	}{
		{"zeek/http-on-port-5432.pcap", []want{{"192.150.187.43:5432", appid.HTTP, &AppMeta{HTTPHost: "bro.org"}}}},
		{"zeek/get-to-ssh-server.pcap", []want{{"130.74.164.231:22", appid.HTTP, &AppMeta{HTTPHost: "128.3.50.246"}}}},
		{"zeek/ssh-on-port-80.pcap", []want{{"172.16.238.131:80", appid.SSH, &AppMeta{SSHBanner: "SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3"}}}},
		{"zeek/vxlan-encapsulated-http.pcap", []want{{"54.86.237.188:80", appid.HTTP, &AppMeta{HTTPHost: "eu.httpbin.org"}}}},
		{"zeek/tls-fragmented-handshake.pcap.gz", []want{{"104.236.167.107:4433", appid.TLS, &AppMeta{SNI: "104.236.167.107"}}}},
		{"zeek/psql-aws-ssl-require-15432.pcap", []want{{"52.200.36.167:15432", appid.PostgreSQL, &AppMeta{SNI: "database-1.cyx4x7yvdoay.us-east-1.rds.amazonaws.com"}}}},
		{"zeek/smb3.pcap", []want{{"10.160.65.202:445", appid.SMB, nil}}},
		{"zeek/dhcp.pcap", []want{{"255.255.255.255:67", appid.DHCP, nil}}},
	}
	for _, c := range cases {
		for _, workers := range []int{1, 3} {
			got := map[string]Flow{}
			_, err := Run(context.Background(), []string{filepath.Join(dir, c.file)}, Options{Workers: workers}, func(f *Flow) {
				got[f.Server.String()] = *f
			})
			if err != nil {
				t.Fatalf("%s: %v", c.file, err)
			}
			for _, w := range c.flows {
				f, ok := got[w.server]
				if !ok {
					t.Errorf("%s, %d workers: no flow to %s", c.file, workers, w.server)
					continue
				}
				if f.App != w.app || f.AppMeta.String() != w.meta.String() {
					t.Errorf("%s, %d workers: flow to %s is %q %v, want %q %v", c.file, workers, w.server, f.App, f.AppMeta, w.app, w.meta)
				}
			}
		}
	}
}
