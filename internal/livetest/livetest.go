// Package livetest runs live-capture tests in a network namespace of their own, so
// that their traffic never leaves it and no other process's traffic reaches them.
// It is used by tests only.
package livetest

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// env names the test the re-executed test binary runs inside the namespace; envDir
// is the directory Dir returns.
const (
	env    = "PORTCLASS_LIVETEST_NETNS"
	envDir = "PORTCLASS_LIVETEST_DIR"
)

var seq atomic.Int64

// InNetns makes the calling top-level test run in a fresh network namespace whose only
// interface is lo (up). Outside the namespace it creates one with iproute2 ("ip netns
// add"), runs this test binary again inside it for this one test, logs the child's
// output, fails if the child failed, deletes the namespace and returns false: the
// caller then returns. Inside, it returns true. Without root or iproute2 the test is
// skipped with the reason.
func InNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(env) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("live capture test skipped: it needs root (CAP_NET_RAW and CAP_SYS_ADMIN to create a network namespace); CI runs it as root")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("live capture test skipped: iproute2 (ip) is not installed: apt-get install iproute2")
	}
	name := fmt.Sprintf("portclass-test-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("live capture test skipped: cannot create a network namespace: ip netns add: %v: %s", err, out)
	}
	defer exec.Command(ip, "netns", "del", name).Run()
	if out, err := exec.Command(ip, "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", name, err, out)
	}
	args := []string{"netns", "exec", name, os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1", "-test.timeout=5m"}
	dir, err := os.MkdirTemp("", "portclass-livetest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil { // for tests that drop root (--user)
		t.Fatal(err)
	}
	cmd := exec.Command(ip, args...)
	cmd.Env = append(os.Environ(), env+"="+t.Name(), envDir+"="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("in network namespace %s:\n%s", name, out)
	switch {
	case err != nil:
		t.Fatalf("test in network namespace %s failed: %v", name, err)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skip("skipped inside the network namespace (see the log)")
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatalf("test did not run in network namespace %s", name)
	}
	return false
}

// Dir returns a directory for the test's files inside the namespace, writable by
// every user (a test may drop root) and removed by the parent test afterwards.
func Dir(t testing.TB) string {
	t.Helper()
	d := os.Getenv(envDir)
	if d == "" {
		t.Fatal("livetest.Dir outside InNetns")
	}
	return d
}

// RxPackets returns the packets lo has received in this network namespace
// (/sys/class/net/lo/statistics/rx_packets): on loopback every packet sent is received
// once, so it is the number of packets a capture on lo must see.
func RxPackets(t testing.TB) uint64 {
	t.Helper()
	b, err := os.ReadFile("/sys/class/net/lo/statistics/rx_packets")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Traffic is what Send sent: the addresses of both ends of every flow.
type Traffic struct {
	TCP       []*Conn        // the connections, in order, closed
	UDPServer netip.AddrPort // [::1]:999
	UDPClient netip.AddrPort
}

// Conn is a TCP connection to a listener of its own that echoes.
type Conn struct {
	Client, Server netip.AddrPort
	c              net.Conn
	served         chan error
	buf            []byte
}

// Open listens on 127.0.0.1 (any port), connects and accepts.
func Open(t testing.TB) *Conn {
	t.Helper()
	return OpenAt(t, "127.0.0.1:0")
}

// OpenAt listens on addr, connects and accepts.
func OpenAt(t testing.TB, addr string) *Conn {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := &Conn{Server: ln.Addr().(*net.TCPAddr).AddrPort(), served: make(chan error, 1), buf: make([]byte, 100)}
	accepted := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		accepted <- err
		if err == nil {
			_, err = io.Copy(s, s) // echo until the client's FIN
			s.Close()
		}
		c.served <- err
	}()
	if c.c, err = net.Dial("tcp", c.Server.String()); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil { // closing the listener before would reset the connection
		t.Fatal(err)
	}
	c.Client = c.c.LocalAddr().(*net.TCPAddr).AddrPort()
	return c
}

// Exchange sends 100 bytes and reads their echo.
func (c *Conn) Exchange(t testing.TB) {
	t.Helper()
	if _, err := c.c.Write(c.buf); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c.c, c.buf); err != nil {
		t.Fatal(err)
	}
}

// Close closes the connection from the client, then from the server (FIN both ways),
// and returns when both sides are closed.
func (c *Conn) Close(t testing.TB) {
	t.Helper()
	c.c.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, c.c); err != nil { // until the server's FIN
		t.Fatal(err)
	}
	c.c.Close()
	if err := <-c.served; err != nil {
		t.Fatal(err)
	}
}

// Send makes known traffic on loopback and returns once it is over: conns TCP
// connections to 127.0.0.1 (see Conn), each exchanging msgs request/response pairs of
// 100 bytes and then closed, and datagrams UDP datagrams of 50 bytes from a client on
// [::1] to a server on [::1]:999 (a well-known port, so that the direction heuristic
// names the client), each answered.
func Send(t testing.TB, conns, msgs, datagrams int) Traffic {
	t.Helper()
	var tr Traffic
	for range conns {
		c := Open(t)
		for range msgs {
			c.Exchange(t)
		}
		c.Close(t)
		tr.TCP = append(tr.TCP, c)
	}
	tr.UDPClient, tr.UDPServer = UDP(t, "", "[::1]:999", datagrams)
	return tr
}

// UDP sends n datagrams of 50 bytes from a client on from ("": any port) to a server
// on addr, which answers each, and returns the client's and the server's addresses.
func UDP(t testing.TB, from, addr string, n int) (client, server netip.AddrPort) {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var local *net.UDPAddr
	if from != "" {
		if local, err = net.ResolveUDPAddr("udp", from); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := net.ListenUDP("udp", a)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	server = srv.LocalAddr().(*net.UDPAddr).AddrPort()
	cl, err := net.DialUDP("udp", local, net.UDPAddrFromAddrPort(server))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	client = cl.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 100)
	for range n {
		if _, err := cl.Write(buf[:50]); err != nil {
			t.Fatal(err)
		}
		m, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WriteToUDPAddrPort(buf[:m], from); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	return client, server
}

// WaitFor polls cond every 20 ms until it holds or 10 s have passed.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
