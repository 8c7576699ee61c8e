package synth

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// MixFile returns the path of the mix capture of the given size (seed 1, pcap,
// Ethernet) in dir, generating it first when it is not there. Benchmarks and the
// benchmark comparison (internal/benchcompare) share these files, which take a while
// to generate: 1M packets are about 1 GB. The file appears atomically (written
// under a temporary name, then renamed), so concurrent callers never read half of it.
func MixFile(dir string, packets, flows int) (string, error) {
	return cachedFile(filepath.Join(dir, fmt.Sprintf("portclass-bench-mix-%d-%d-v1.pcap", packets, flows)),
		Scenario{Kind: KindMix, Seed: 1, Packets: packets, Flows: flows}, FileOptions{Format: FormatPcap, LinkType: LinkEthernet})
}

// MixFileMSS is MixFile with TCP segments of mss bytes of payload (Scenario.MSS):
// the same packets and flows in smaller frames.
func MixFileMSS(dir string, packets, flows, mss int) (string, error) {
	return cachedFile(filepath.Join(dir, fmt.Sprintf("portclass-bench-mix-%d-%d-mss%d-v1.pcap", packets, flows, mss)),
		Scenario{Kind: KindMix, Seed: 1, Packets: packets, Flows: flows, MSS: mss}, FileOptions{Format: FormatPcap, LinkType: LinkEthernet})
}

// FlowsFile is MixFile for the flow-heavy scenario (KindFlows, seed 1), cut to
// CommittedSnaplen bytes a frame as a header-only capture is: the default 2.1M
// packets over 500k flows are about 190 MB.
func FlowsFile(dir string, packets, flows int) (string, error) {
	return FlowsFileSpan(dir, packets, flows, 0)
}

// FlowsFileSpan is FlowsFile with the flows started over span (Scenario.Span; 0 is
// FlowsFile's capture): the burst capture of make bench-compare, with most flows open
// at once at its end.
func FlowsFileSpan(dir string, packets, flows int, span time.Duration) (string, error) {
	name := fmt.Sprintf("portclass-bench-flows-%d-%d-v1.pcap", packets, flows)
	if span > 0 {
		name = fmt.Sprintf("portclass-bench-flows-%d-%d-span%s-v1.pcap", packets, flows, span)
	}
	return cachedFile(filepath.Join(dir, name),
		Scenario{Kind: KindFlows, Seed: 1, Packets: packets, Flows: flows, Span: span},
		FileOptions{Format: FormatPcap, LinkType: LinkEthernet, Snaplen: CommittedSnaplen})
}

// cachedFile returns path, first writing s into it with o when it is not there. The
// name must say everything that s and o hold (a change to a generator that changes
// its bytes must change the name's version), since the file is reused as it is.
func cachedFile(path string, s Scenario, o FileOptions) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("%s capture: %w", s.Kind, err)
	}
	err = f.Chmod(0o644) // readable by tools that drop privileges (tcpdump -Z)
	if err == nil {
		err = Write(f, s, o)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("%s capture %s: %w", s.Kind, path, err)
	}
	return path, nil
}

// MixDir returns a directory in dir holding the mix capture split into parts inputs,
// as a rotating capture writes it: part k (from 1) has packets/parts packets over
// flows/parts flows, generated with seed k. Like MixFile, it is generated once and
// reused.
func MixDir(dir string, parts, packets, flows int) (string, error) {
	if parts < 1 {
		return "", fmt.Errorf("mix directory: %d parts", parts)
	}
	path := filepath.Join(dir, fmt.Sprintf("portclass-bench-mix-%d-%d-x%d-v1", packets, flows, parts))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.MkdirTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("mix directory: %w", err)
	}
	for k := 1; k <= parts && err == nil; k++ {
		var f *os.File
		f, err = os.Create(filepath.Join(tmp, fmt.Sprintf("part-%03d.pcap", k)))
		if err != nil {
			break
		}
		s := Scenario{Kind: KindMix, Seed: uint64(k), Packets: packets / parts, Flows: max(1, flows/parts)}
		err = f.Chmod(0o644)
		if err == nil {
			err = Write(f, s, FileOptions{Format: FormatPcap, LinkType: LinkEthernet})
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("mix directory %s: %w", path, err)
	}
	return path, nil
}
