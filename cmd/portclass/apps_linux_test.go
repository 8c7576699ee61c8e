//go:build linux

package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/internal/livetest"
)

// appServer is a real server the live test starts on loopback, on its own port and
// on another service's, and the exchange a client has with it.
type appServer struct {
	name     string // the binary
	own      string // its port, "tcp/22"
	other    string // another service's port, where it is a protocol mismatch
	app      string // what portclass must recognise
	start    func(t *testing.T, dir string) *exec.Cmd
	exchange func(t *testing.T, addr string)
	meta     func(port string) string // the metadata portclass must find, "" for none
}

// TestCaptureApps starts sshd, nginx (HTTP and TLS), dnsmasq and redis in the test's
// own network namespace, on their own ports and on other services' ports, talks to
// each with a client of the protocol, captures the traffic with portclass's live
// capture on lo and checks each flow's app_protocol and metadata, the
// protocol-mismatch flag (on the other services' ports only) and the unexpected
// section (those flows, and redis, which no baseline service explains). A server
// whose binary is absent is left out with a message; without any, the test skips.
func TestCaptureApps(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	dir := livetest.Dir(t)
	servers := []appServer{
		{"sshd", "tcp/22", "tcp/8080", "ssh", startSSHD, sshExchange, func(string) string { return "banner SSH-2.0-OpenSSH" }},
		{"nginx", "tcp/80", "tcp/5432", "http", nil, httpExchange, func(p string) string {
			if p == "80" {
				return "Host 127.0.0.1"
			}
			return "Host 127.0.0.1:" + p
		}},
		{"nginx", "tcp/443", "tcp/25", "tls", startNginx, tlsExchange, func(string) string { return "SNI portclass.test, ALPN http/1.1" }},
		{"dnsmasq", "udp/53", "udp/123", "dns", startDnsmasq, dnsExchange, func(string) string { return "" }},
		{"redis-server", "tcp/6379", "tcp/3306", "redis", startRedis, redisExchange, func(string) string { return "" }},
	}
	var running []appServer
	for _, s := range servers {
		if _, err := lookServer(s.name); err != nil {
			t.Logf("%s not installed (Debian: openssh-server, nginx, dnsmasq, redis-server): its checks are left out", s.name)
			continue
		}
		running = append(running, s)
	}
	if len(running) == 0 {
		t.Skip("none of sshd, nginx, dnsmasq and redis-server is installed")
	}
	for _, s := range running {
		if s.start == nil {
			continue // nginx's HTTP ports: the TLS entry starts it
		}
		cmd := s.start(t, dir)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	for _, s := range running {
		for _, p := range []string{s.own, s.other} {
			waitListening(t, s.name, p)
		}
	}

	report := filepath.Join(dir, "apps.json")
	// --snaplen: the default (256 bytes) keeps the SNI of the ClientHello but not its
	// ALPN, which follows the post-quantum key share
	c := startCLI(t, "capture", "-i", "lo", "--snaplen", "4096", "--format", "json", "-o", report, "--top", "0")
	for _, s := range running {
		for _, p := range []string{s.own, s.other} {
			_, port, _ := strings.Cut(p, "/")
			s.exchange(t, "127.0.0.1:"+port)
		}
	}
	c.stop(t)
	sum := loadFile(t, report)

	unexpected := map[string][]string{}
	for _, u := range sum.Unexpected {
		unexpected[u.Proto+"/"+u.Server+":"+strconv.Itoa(int(u.Port))] = u.Reasons
	}
	for _, s := range running {
		for _, p := range []string{s.own, s.other} {
			proto, port, _ := strings.Cut(p, "/")
			server := "127.0.0.1:" + port
			var found bool
			for _, f := range sum.Flows {
				if f.Server.String() != server || protoOf(f.Proto) != proto {
					continue
				}
				found = true
				if got := f.App.String(); got != s.app {
					t.Errorf("%s on %s: app_protocol %q, want %q", s.name, p, got, s.app)
				}
				if want, got := s.meta(port), appMetaText(f.AppMeta); !strings.HasPrefix(got, want) || (want == "") != (got == "") {
					t.Errorf("%s on %s: metadata %q, want %q", s.name, p, got, want)
				}
				mismatch := slices.Contains(f.Flags.Names(), "protocol-mismatch")
				if mismatch != (p == s.other) {
					t.Errorf("%s on %s: protocol-mismatch %v, want %v (flags %v)", s.name, p, mismatch, p == s.other, f.Flags)
				}
			}
			if !found {
				t.Errorf("%s on %s: no flow to %s", s.name, p, server)
			}
			reasons, listed := unexpected[p[:3]+"/"+server]
			switch {
			case p == s.other && (!listed || !slices.Contains(reasons, "protocol-mismatch")):
				t.Errorf("%s on %s: unexpected %v (listed %v), want protocol-mismatch among the reasons", s.name, p, reasons, listed)
			case p == s.own && s.name == "redis-server" && !slices.Equal(reasons, []string{"unexplained-port"}):
				t.Errorf("redis on its own port: unexpected %v, want unexplained-port (no baseline service)", reasons)
			case p == s.own && s.name != "redis-server" && listed:
				t.Errorf("%s on its own port %s is unexpected: %v", s.name, p, reasons)
			}
		}
	}
	if t.Failed() {
		t.Logf("unexpected: %+v", sum.Unexpected)
	}
}

func protoOf(p uint8) string {
	if p == 17 {
		return "udp"
	}
	return "tcp"
}

// appMetaText is a flow's metadata as the HTML report shows it.
func appMetaText(m *capture.AppMeta) string {
	if m == nil {
		return ""
	}
	var parts []string
	for _, kv := range [][2]string{{"SNI", m.SNI}, {"ALPN", m.ALPN}, {"Host", m.HTTPHost}, {"banner", m.SSHBanner}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	return strings.Join(parts, ", ")
}

// lookServer finds a server binary on PATH or in /usr/sbin (not on a user's PATH).
func lookServer(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join("/usr/sbin", name))
}

// serve starts a server with args, its output into dir/name.log.
func serve(t *testing.T, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := lookServer(name)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, filepath.Base(name)+fmt.Sprint(time.Now().UnixNano())+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", name, b)
		}
		log.Close()
	})
	return cmd
}

// waitListening waits until the server answers on port ("tcp/22", "udp/53").
func waitListening(t *testing.T, name, port string) {
	t.Helper()
	proto, p, _ := strings.Cut(port, "/")
	if proto == "udp" {
		time.Sleep(200 * time.Millisecond) // dnsmasq binds before it says so; nothing to dial
		return
	}
	livetest.WaitFor(t, name+" to listen on "+port, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func startSSHD(t *testing.T, dir string) *exec.Cmd {
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sshd_config")
	writeFile(t, cfg, "ListenAddress 127.0.0.1:22\nListenAddress 127.0.0.1:8080\nHostKey "+key+"\nPidFile none\nUsePAM no\nStrictModes no\n")
	bin, _ := lookServer("sshd")
	return serve(t, dir, bin, "-D", "-e", "-f", cfg) // sshd wants to be run by its absolute path
}

func startNginx(t *testing.T, dir string) *exec.Cmd {
	certPEM, keyPEM := selfSigned(t)
	writeFile(t, filepath.Join(dir, "cert.pem"), string(certPEM))
	writeFile(t, filepath.Join(dir, "key.pem"), string(keyPEM))
	cfg := filepath.Join(dir, "nginx.conf")
	writeFile(t, cfg, strings.ReplaceAll(`daemon off; master_process off; worker_processes 1;
pid DIR/nginx.pid; error_log DIR/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path DIR; proxy_temp_path DIR; fastcgi_temp_path DIR; uwsgi_temp_path DIR; scgi_temp_path DIR;
  server { listen 127.0.0.1:80; listen 127.0.0.1:5432; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:443 ssl; listen 127.0.0.1:25 ssl; ssl_certificate DIR/cert.pem; ssl_certificate_key DIR/key.pem;
    location / { return 200 "ok\n"; } }
}
`, "DIR", dir))
	return serve(t, dir, "nginx", "-e", filepath.Join(dir, "nginx-error.log"), "-p", dir, "-c", cfg)
}

func startDnsmasq(t *testing.T, dir string) *exec.Cmd {
	return serveOnPorts(t, dir, "dnsmasq", []string{"53", "123"}, func(port string) []string {
		return []string{"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
			"--listen-address=127.0.0.1", "--bind-interfaces", "--port=" + port, "--address=/portclass.test/192.0.2.1",
			"--user=root", "--pid-file=" + filepath.Join(dir, "dnsmasq-"+port+".pid")}
	})
}

func startRedis(t *testing.T, dir string) *exec.Cmd {
	return serveOnPorts(t, dir, "redis-server", []string{"6379", "3306"}, func(port string) []string {
		return []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--daemonize", "no", "--protected-mode", "no", "--dir", dir}
	})
}

// serveOnPorts starts one instance of a server for each port, with the arguments args
// gives it, and returns the last one (the caller stops it; the others are stopped at
// the test's end).
func serveOnPorts(t *testing.T, dir, name string, ports []string, args func(port string) []string) *exec.Cmd {
	var last *exec.Cmd
	for i, port := range ports {
		last = serve(t, dir, name, args(port)...)
		if i < len(ports)-1 {
			c := last
			t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		}
	}
	return last
}

// dialTCP connects to a test server, with a deadline for the whole exchange.
func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func sshExchange(t *testing.T, addr string) {
	c := dialTCP(t, addr)
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		t.Fatalf("%s: banner %q: %v", addr, line, err)
	}
	if _, err := io.WriteString(c, "SSH-2.0-portclass_test\r\n"); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, io.LimitReader(c, 1)) // sshd's key exchange init, or its close
}

func httpExchange(t *testing.T, addr string) {
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + strings.TrimSuffix(addr, ":80") + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d", addr, resp.StatusCode)
	}
}

func tlsExchange(t *testing.T, addr string) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "portclass.test", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: portclass.test\r\nConnection: close\r\n\r\n")
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("%s: %q", addr, b)
	}
}

func dnsExchange(t *testing.T, addr string) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 9, 'p', 'o', 'r', 't', 'c', 'l', 'a', 's', 's', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1}
	buf := make([]byte, 512)
	for try := 0; ; try++ { // dnsmasq may not be listening yet: ask again
		c.Write(q)
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && n > 12 && buf[0] == 0x12 && buf[1] == 0x34 {
			return
		}
		if try == 10 {
			t.Fatalf("%s: no DNS answer", addr)
		}
	}
}

func redisExchange(t *testing.T, addr string) {
	c := dialTCP(t, addr)
	defer c.Close()
	io.WriteString(c, "*1\r\n$4\r\nPING\r\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("%s: %q: %v", addr, line, err)
	}
}

// selfSigned makes a certificate and key for the TLS server.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portclass.test"},
		DNSNames: []string{"portclass.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
