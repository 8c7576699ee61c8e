package reports

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/capture/appid"
)

// TestRecordApp checks the application fields of a record: app_protocol always
// written, the metadata only when found, bytes from the wire round-tripping as far as
// JSON can carry them, and the loader refusing what portclass would not write.
func TestRecordApp(t *testing.T) {
	base := fixtureRecords()[0]
	long := strings.Repeat("é", appid.MaxMeta) // 255 characters, 510 bytes: what 255 wire bytes can become
	for _, tt := range []struct {
		name string
		app  appid.Protocol
		meta *capture.AppMeta
		keys []string // the record's last keys
	}{
		{"unknown", appid.Unknown, nil, []string{"iana_service", "app_protocol"}},
		{"tls", appid.TLS, &capture.AppMeta{SNI: "www.example.com", ALPN: "h2,http/1.1"}, []string{"app_protocol", "tls_sni", "tls_alpn"}},
		{"postgresql upgraded", appid.PostgreSQL, &capture.AppMeta{SNI: "db.example.com"}, []string{"app_protocol", "tls_sni"}},
		{"http", appid.HTTP, &capture.AppMeta{HTTPHost: "a\"b\\c\x1b[2J\u202e" + long[:100]}, []string{"app_protocol", "http_host"}},
		{"ssh", appid.SSH, &capture.AppMeta{SSHBanner: "SSH-2.0-" + long[:200]}, []string{"app_protocol", "ssh_banner"}},
		{"longest", appid.TLS, &capture.AppMeta{SNI: long}, []string{"app_protocol", "tls_sni"}},
	} {
		f := base
		f.App, f.AppMeta = tt.app, tt.meta
		b := appendRecord(nil, &f, true)
		keys := jsonKeys(t, b)
		if got := keys[len(keys)-len(tt.keys):]; !reflect.DeepEqual(got, tt.keys) {
			t.Errorf("%s: record ends with keys %v, want %v", tt.name, got, tt.keys)
		}
		var raw rawRecord
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		got, err := raw.flow()
		if err != nil {
			t.Fatalf("%s: the loader refuses what the appender wrote: %v\n%s", tt.name, err, b)
		}
		if got.App != f.App || !reflect.DeepEqual(got.AppMeta, f.AppMeta) {
			t.Errorf("%s: read back %q %v, want %q %v", tt.name, got.App, got.AppMeta, f.App, f.AppMeta)
		}
	}

	// invalid UTF-8 becomes U+FFFD, one character a byte: still within the bound
	f := base
	f.App, f.AppMeta = appid.SSH, &capture.AppMeta{SSHBanner: strings.Repeat("\xff", appid.MaxMeta)}
	var raw rawRecord
	if err := json.Unmarshal(appendRecord(nil, &f, false), &raw); err != nil {
		t.Fatal(err)
	}
	if got, err := raw.flow(); err != nil || got.AppMeta.SSHBanner != strings.Repeat("\ufffd", appid.MaxMeta) {
		t.Errorf("invalid UTF-8 banner: %v, %q", err, got.AppMeta)
	}

	good := written(t, &base)
	udp := written(t, &fixtureRecords()[7])
	icmp := written(t, &fixtureRecords()[8])
	for _, tt := range []struct {
		field string
		r     rawRecord
		edit  func(r *rawRecord)
	}{
		{"app_protocol", good, func(r *rawRecord) { r.AppProtocol = "gopher" }},
		{"app_protocol", good, func(r *rawRecord) { r.AppProtocol = "TLS" }},
		{"app_protocol", icmp, func(r *rawRecord) { r.AppProtocol = "dns" }},
		{"tls_sni", good, func(r *rawRecord) { r.AppProtocol, r.TLSSNI = "tls", strings.Repeat("a", appid.MaxMeta+1) }},
		{"tls_sni", good, func(r *rawRecord) { r.AppProtocol, r.TLSSNI = "http", "www.example.com" }},
		{"tls_alpn", udp, func(r *rawRecord) { r.AppProtocol, r.TLSALPN = "dns", "h2" }},
		{"http_host", good, func(r *rawRecord) { r.HTTPHost = "www.example.com" }},
		{"ssh_banner", good, func(r *rawRecord) { r.AppProtocol, r.SSHBanner = "tls", "SSH-2.0-x" }},
	} {
		r := tt.r
		tt.edit(&r)
		_, err := r.flow()
		var re *recordError
		if !errors.As(err, &re) || re.field != tt.field {
			t.Errorf("%s: error %v, want one about field %s", tt.field, err, tt.field)
		}
	}
}
