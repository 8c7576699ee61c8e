//go:build linux

package capture_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/portclass/portclass/capture"
	"github.com/portclass/portclass/internal/livetest"
)

// TestLiveVXLAN makes real encapsulated traffic: two network namespaces joined by a
// veth pair (the underlay: 192.0.2.0/24 and 2001:db8::/64), the kernel's own VXLAN
// devices between them, and captures the underlay with the live capture. Tunnels:
// VNI 42 on UDP 4789 over IPv4 (inner 198.51.100.0/24 and 2001:db8:42::/64), VNI 77 on
// the Linux legacy port 8472 over IPv6 (inner 203.0.113.0/24), and VNI 9 nested in
// VNI 42 (inner 198.18.9.0/24). Through them: TCP over IPv4 and IPv6, UDP, ICMP echo.
// Neighbours are static, so no ARP travels in the tunnels and every VXLAN datagram
// carries IP: no flow may be left on a tunnel port. The kernel of the machine this was
// written on has no Geneve, GRE, SIT or ip6tnl devices (only VXLAN); the corpus and
// TestDecap cover those.
func TestLiveVXLAN(t *testing.T) {
	if !livetest.InNetns(t) {
		return
	}
	peer := fmt.Sprintf("portclass-peer-%d", os.Getpid())
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	must := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	must("netns", "add", peer)
	t.Cleanup(func() { ip("netns", "del", peer) })
	must("link", "add", "pcv0", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "pcv1", "address", "02:00:00:00:00:02", "netns", peer)
	link := func(dev, v4, v6 string, peerV4, peerV6, peerMAC string, inPeer bool) {
		t.Helper()
		pre := []string{}
		if inPeer {
			pre = []string{"-n", peer}
		}
		if v6 != "" {
			must(append(pre, "addr", "add", v6, "dev", dev, "nodad")...)
			must(append(pre, "-6", "neigh", "add", peerV6, "lladdr", peerMAC, "dev", dev, "nud", "permanent")...)
		}
		must(append(pre, "addr", "add", v4, "dev", dev)...)
		must(append(pre, "link", "set", dev, "up")...)
		must(append(pre, "neigh", "add", peerV4, "lladdr", peerMAC, "dev", dev, "nud", "permanent")...)
	}
	link("pcv0", "192.0.2.1/24", "2001:db8::1/64", "192.0.2.2", "2001:db8::2", "02:00:00:00:00:02", false)
	link("pcv1", "192.0.2.2/24", "2001:db8::2/64", "192.0.2.1", "2001:db8::1", "02:00:00:00:00:01", true)

	vxlan := func(name, id, mac, local, remote, port, dev string, inPeer bool) error {
		args := []string{"link", "add", name, "address", mac, "type", "vxlan", "id", id, "local", local, "remote", remote, "dstport", port, "dev", dev}
		if inPeer {
			args = append([]string{"-n", peer}, args...)
		}
		return ip(args...)
	}
	if err := vxlan("vx42", "42", "02:00:00:00:42:01", "192.0.2.1", "192.0.2.2", "4789", "pcv0", false); err != nil {
		t.Skipf("the kernel cannot make VXLAN devices: %v", err)
	}
	for _, v := range []struct {
		name, id, mac, local, remote, port, dev string
		inPeer                                  bool
	}{
		{"vx42", "42", "02:00:00:00:42:02", "192.0.2.2", "192.0.2.1", "4789", "pcv1", true},
		{"vx77", "77", "02:00:00:00:77:01", "2001:db8::1", "2001:db8::2", "8472", "pcv0", false},
		{"vx77", "77", "02:00:00:00:77:02", "2001:db8::2", "2001:db8::1", "8472", "pcv1", true},
	} {
		if err := vxlan(v.name, v.id, v.mac, v.local, v.remote, v.port, v.dev, v.inPeer); err != nil {
			t.Fatal(err)
		}
	}
	link("vx42", "198.51.100.1/24", "2001:db8:42::1/64", "198.51.100.2", "2001:db8:42::2", "02:00:00:00:42:02", false)
	link("vx42", "198.51.100.2/24", "2001:db8:42::2/64", "198.51.100.1", "2001:db8:42::1", "02:00:00:00:42:01", true)
	// the nested tunnel rides on vx42's inner network
	if err := vxlan("vx9", "9", "02:00:00:00:09:01", "198.51.100.1", "198.51.100.2", "4789", "vx42", false); err != nil {
		t.Fatal(err)
	}
	if err := vxlan("vx9", "9", "02:00:00:00:09:02", "198.51.100.2", "198.51.100.1", "4789", "vx42", true); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"vx77", "vx9"} { // IPv4 only: less of the kernel's own IPv6 traffic
		sysctl(t, "", "net/ipv6/conf/"+dev+"/disable_ipv6", "1")
		sysctl(t, peer, "net/ipv6/conf/"+dev+"/disable_ipv6", "1")
	}
	link("vx77", "203.0.113.1/24", "", "203.0.113.2", "", "02:00:00:00:77:02", false)
	link("vx77", "203.0.113.2/24", "", "203.0.113.1", "", "02:00:00:00:77:01", true)
	link("vx9", "198.18.9.1/24", "", "198.18.9.2", "", "02:00:00:00:09:02", false)
	link("vx9", "198.18.9.2/24", "", "198.18.9.1", "", "02:00:00:00:09:01", true)

	// Servers in the peer: TCP echo on 8080 on every inner address, UDP echo on 53.
	servers := map[string]string{"v4": "198.51.100.2:8080", "v6": "[2001:db8:42::2]:8080", "8472": "203.0.113.2:8080", "nested": "198.18.9.2:8080"}
	for _, addr := range servers {
		ln := inNetns(t, peer, func() (io.Closer, error) { return net.Listen("tcp", addr) }).(net.Listener)
		go echoTCP(ln)
	}
	udpSrv := inNetns(t, peer, func() (io.Closer, error) { return net.ListenPacket("udp", "198.51.100.2:53") }).(net.PacketConn)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udpSrv.ReadFrom(buf)
			if err != nil {
				return
			}
			udpSrv.WriteTo(buf[:n], from)
		}
	}()

	before := devPackets(t, "pcv0")
	r := startLive(t, capture.LiveOptions{Interfaces: []string{"pcv0"}, Log: zerolog.Nop()}, capture.Options{Workers: 2, Log: zerolog.Nop()})

	clients := map[string]netip.AddrPort{}
	for name, addr := range servers {
		clients[name] = exchangeTCP(t, addr, 3)
	}
	uc, err := net.Dial("udp", "198.51.100.2:53")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	for range 3 {
		uc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := uc.Write(buf[:40]); err != nil {
			t.Fatal(err)
		}
		if _, err := uc.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	udpFrom := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	uc.Close()
	pingN(t, "198.51.100.1", "198.51.100.2", 3)

	sent := devPackets(t, "pcv0") - before
	r.stop(t, sent)
	r.mu.Lock()
	defer r.mu.Unlock()

	vx42 := "vxlan:42 192.0.2.1>192.0.2.2"
	type want struct {
		client, server netip.AddrPort
		proto          uint8
		tunnel         string
		state          capture.State
	}
	wants := []want{
		{clients["v4"], netip.MustParseAddrPort(servers["v4"]), capture.ProtoTCP, vx42, capture.SF},
		{clients["v6"], netip.MustParseAddrPort(servers["v6"]), capture.ProtoTCP, vx42, capture.SF},
		{clients["8472"], netip.MustParseAddrPort(servers["8472"]), capture.ProtoTCP, "vxlan:77 2001:db8::1>2001:db8::2", capture.SF},
		{clients["nested"], netip.MustParseAddrPort(servers["nested"]), capture.ProtoTCP, vx42 + " / vxlan:9 198.51.100.1>198.51.100.2", capture.SF},
		{udpFrom, netip.MustParseAddrPort("198.51.100.2:53"), capture.ProtoUDP, vx42, capture.SF},
		{netip.MustParseAddrPort("198.51.100.1:0"), netip.MustParseAddrPort("198.51.100.2:0"), capture.ProtoICMP, vx42, capture.SF},
	}
	for _, w := range wants {
		var found *capture.Flow
		for i := range r.flows {
			f := &r.flows[i]
			if f.Proto == w.proto && f.Client == w.client && f.Server == w.server {
				found = f
			}
		}
		if found == nil {
			t.Errorf("no %s flow %v > %v", capture.ProtoName(w.proto), w.client, w.server)
			continue
		}
		if found.Tunnel.String() != w.tunnel || found.State != w.state || found.Packets[0] < 3 || found.Packets[1] < 3 {
			t.Errorf("%s flow %v > %v: tunnel %q state %s packets %v; want %q %s, 3 or more each way", capture.ProtoName(w.proto), w.client, w.server,
				found.Tunnel, found.State, found.Packets, w.tunnel, w.state)
		}
		if w.proto == capture.ProtoTCP && found.Direction != capture.DirSYN {
			t.Errorf("TCP flow %v > %v: direction %s", w.client, w.server, found.Direction)
		}
	}
	var inFlows uint64
	for _, f := range r.flows {
		inFlows += f.Packets[0] + f.Packets[1]
		if f.Proto == capture.ProtoUDP && f.Tunnel.Len() == 0 {
			for _, p := range []uint16{4789, 8472} {
				if f.Client.Port() == p || f.Server.Port() == p {
					t.Errorf("a VXLAN datagram was not decapsulated: flow %v > %v, %v packets", f.Client, f.Server, f.Packets)
				}
			}
		}
	}
	var in capture.InputStats
	for _, res := range r.intervals {
		in = res.Inputs[0]
	}
	if inFlows != in.Decoded || in.Decapsulated == 0 || in.DecodeErrors != 0 || in.Packets < sent {
		t.Errorf("%d packets in flows; input: %d read (%d on the device), %d decoded, %d decapsulated, %d errors", inFlows, in.Packets, sent, in.Decoded, in.Decapsulated, in.DecodeErrors)
	}
	t.Logf("%d packets, %d decapsulated, %d flows", in.Packets, in.Decapsulated, len(r.flows))
	for _, f := range r.flows {
		t.Logf("%s %v > %v %v %s %s [%s]", capture.ProtoName(f.Proto), f.Client, f.Server, f.Packets, f.State, f.Direction, f.Tunnel)
	}
}

// inNetns runs fn with the calling goroutine's thread in network namespace ns and
// returns what fn opened: a socket stays in the namespace it was created in.
func inNetns(t *testing.T, ns string, fn func() (io.Closer, error)) io.Closer {
	t.Helper()
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("setns %s: %v", ns, err)
	}
	c, ferr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// leave the thread locked: it ends with the goroutine instead of serving others
		t.Fatalf("setns back: %v", err)
	}
	runtime.UnlockOSThread()
	if ferr != nil {
		t.Fatal(ferr)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sysctl writes a /proc/sys value here or (ns not "") in namespace ns.
func sysctl(t *testing.T, ns, key, val string) {
	t.Helper()
	write := func() (io.Closer, error) {
		return io.NopCloser(nil), os.WriteFile("/proc/sys/"+key, []byte(val), 0)
	}
	if ns == "" {
		if _, err := write(); err != nil {
			t.Fatal(err)
		}
		return
	}
	inNetns(t, ns, write)
}

func echoTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(c, c)
			c.Close()
		}()
	}
}

// exchangeTCP connects to addr, exchanges n messages of 100 bytes, closes (FIN both
// ways) and returns the client's address.
func exchangeTCP(t *testing.T, addr string, n int) netip.AddrPort {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	for range n {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return c.LocalAddr().(*net.TCPAddr).AddrPort()
}

// pingN sends n ICMP echo requests from src to dst on a raw socket and waits for each reply.
func pingN(t *testing.T, src, dst string, n int) {
	t.Helper()
	c, err := net.ListenPacket("ip4:icmp", src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := &net.IPAddr{IP: net.ParseIP(dst)}
	buf := make([]byte, 1500)
	for seq := range n {
		msg := []byte{8, 0, 0, 0, 0x12, 0x34, 0, byte(seq), 'p', 'o', 'r', 't', 'c', 'l', 'a', 's', 's'}
		binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
		if _, err := c.WriteTo(msg, to); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			m, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("echo %d: %v", seq, err)
			}
			if m >= 8 && buf[0] == 0 && buf[7] == byte(seq) { // our reply (the socket sees every ICMP packet)
				break
			}
		}
	}
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// devPackets is the packets a device sent and received: what a capture on it sees.
func devPackets(t *testing.T, dev string) uint64 {
	t.Helper()
	var n uint64
	for _, f := range []string{"rx_packets", "tx_packets"} {
		b, err := os.ReadFile("/sys/class/net/" + dev + "/statistics/" + f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		n += v
	}
	return n
}
