// Command soak drives a live portclass capture on loopback with churning flows and
// prints its memory over time: the check that a capture running for days stays flat.
// scripts/soak.sh runs it inside a network namespace of its own (make soak).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("portclass", "bin/portclass", "portclass binary")
	dur := flag.Duration("time", 3*time.Minute, "how long to run")
	every := flag.Duration("sample", 10*time.Second, "how often to print a sample")
	udpRate := flag.Int("udp", 2000, "new UDP flows per second (3 packets each)")
	tcpRate := flag.Int("tcp", 50, "new TCP connections per second (closed after one exchange)")
	flag.Parse()
	if err := run(*bin, *dur, *every, *udpRate, *tcpRate); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(bin string, dur, every time.Duration, udpRate, tcpRate int) error {
	dir, err := os.MkdirTemp("", "portclass-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const metrics = "127.0.0.1:9188"
	cmd := exec.Command(bin, "capture", "-i", "lo", "--filter", "not tcp port 9188", "--every", "30s",
		"-o", filepath.Join(dir, "report.json"), "--no-flows", "--metrics", metrics, "--metrics-every", "5s",
		"--udp-timeout", "5s", "--tcp-timeout", "10s", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	time.Sleep(time.Second)

	var flows atomic.Int64
	stop := make(chan struct{})
	go udpChurn(udpRate, &flows, stop)
	go tcpChurn(tcpRate, &flows, stop)

	fmt.Printf("portclass capture on lo for %s: %d new UDP flows/s, %d TCP connections/s; udp timeout 5s, tcp 10s\n", dur, udpRate, tcpRate)
	fmt.Printf("%8s %8s %9s %12s %12s %10s %9s\n", "elapsed", "rss_MiB", "heap_MiB", "packets", "flows_ended", "k_dropped", "made")
	start := time.Now()
	var rss []float64
	for t := time.NewTicker(every); time.Since(start) < dur; {
		<-t.C
		m := scrape(metrics)
		r := rssMiB(cmd.Process.Pid)
		rss = append(rss, r)
		fmt.Printf("%8s %8.1f %9.1f %12.0f %12.0f %10.0f %9d\n", time.Since(start).Round(time.Second), r,
			m["go_memstats_heap_inuse_bytes"]/(1<<20), m["portclass_interface_packets_total"], m["portclass_flows_total"],
			m["portclass_kernel_dropped_packets_total"], flows.Load())
	}
	close(stop)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("portclass after SIGINT: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.json")); err != nil {
		return fmt.Errorf("no final report: %w", err)
	}
	if len(rss) >= 4 {
		// RSS saws up and down with the reports; flat means the second half's range
		// is the first half's.
		h := len(rss) / 2
		lo1, hi1 := minMax(rss[:h])
		lo2, hi2 := minMax(rss[h:])
		fmt.Printf("RSS first half %.0f-%.0f MiB, second half %.0f-%.0f MiB (max %+.0f %%); final report written after SIGINT\n",
			lo1, hi1, lo2, hi2, 100*(hi2-hi1)/hi1)
	}
	return nil
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// udpChurn opens rate new UDP flows per second: a new client socket each, 2 datagrams
// to the server, one answer.
func udpChurn(rate int, n *atomic.Int64, stop chan struct{}) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			m, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if buf[0] == 1 {
				srv.WriteToUDPAddrPort(buf[:m], from)
			}
		}
	}()
	addr := srv.LocalAddr().(*net.UDPAddr)
	tick := time.NewTicker(10 * time.Millisecond)
	msg := make([]byte, 64)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for range rate / 100 {
			c, err := net.DialUDP("udp4", nil, addr)
			if err != nil {
				continue
			}
			msg[0] = 0
			c.Write(msg)
			msg[0] = 1
			c.Write(msg)
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			c.Read(msg)
			c.Close()
			n.Add(1)
		}
	}
}

// tcpChurn opens rate TCP connections per second, each with one exchange.
func tcpChurn(rate int, n *atomic.Int64, stop chan struct{}) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	buf := make([]byte, 200)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			continue
		}
		c.Write(buf)
		io.ReadFull(c, buf)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
		n.Add(1)
	}
}

// scrape sums every metric's series by name.
func scrape(addr string) map[string]float64 {
	m := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, _ := strconv.ParseFloat(line[i+1:], 64)
		m[name] += v
	}
	return m
}

// rssMiB reads VmRSS of a process.
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
