package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputIsInput: no command writes its report over one of its inputs, named as
// given, under another name, through a symbolic or a hard link, found in a directory
// argument, or over the policy or configuration it reads: exit 2 and every file as
// it was. capture's -o and --write may not be one file either.
func TestOutputIsInput(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(src, dst string) []byte {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return b
	}
	same := filepath.Join(dir, "same.pcap")
	capture := copyFile(testdata("veeam-firewall.pcap"), same)
	caps := filepath.Join(dir, "caps")
	if err := os.Mkdir(caps, 0o755); err != nil {
		t.Fatal(err)
	}
	inDir := filepath.Join(caps, "b.pcap")
	copyFile(testdata("veeam.pcap"), inDir)
	symlink, hardlink := filepath.Join(dir, "symlink.json"), filepath.Join(dir, "hardlink.json")
	if err := os.Symlink("same.pcap", symlink); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(same, hardlink); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "policy.yaml")
	policyText := copyFile(testdata("veeam-firewall.policy.yaml"), policy)
	summary := filepath.Join(dir, "summary.json")
	if code, _, stderr := runCLI(t, "analyze", "--quiet", "-o", summary, testdata("sample.pcapng")); code != exitOK {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	summaryText, _ := os.ReadFile(summary)
	config := filepath.Join(dir, "portclass.yaml")
	configText := []byte("top: 5\n")
	if err := os.WriteFile(config, configText, 0o644); err != nil {
		t.Fatal(err)
	}
	other := dir + "/./caps/../same.pcap" // another name of the same file
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze", "-q", "--format", "json", "-o", same, same}, "-o " + same + " is also an input"},
		{[]string{"analyze", "-q", "--format", "json", "-o", other, same}, "is the same file as the input " + same},
		{[]string{"analyze", "-q", "-o", symlink, same}, "is the same file as the input " + same},
		{[]string{"analyze", "-q", "-o", hardlink, same}, "is the same file as the input " + same},
		{[]string{"analyze", "-q", "--format", "json", "-o", inDir, caps}, "is also an input"},
		{[]string{"analyze", "-q", "--format", "json", "--config", config, "-o", config, same}, "is also an input"},
		{[]string{"verify", "-q", "--policy", policy, "--format", "json", "-o", same, same}, "is also an input"},
		{[]string{"verify", "-q", "--policy", policy, "--format", "json", "-o", policy, same}, "is also an input"},
		{[]string{"policy", "learn", "-q", "-o", hardlink, same}, "is the same file as the input"},
		{[]string{"diff", "-q", "--format", "json", "-o", same, testdata("veeam.pcap"), same}, "is also an input"},
		{[]string{"diff", "-q", "--format", "json", "-o", inDir, testdata("veeam.pcap"), caps}, "is also an input"},
		{[]string{"merge", "-q", "-o", summary, summary}, "is also an input"},
		{[]string{"policy", "rules", "--policy", policy, "-o", policy}, "is also an input"},
		{[]string{"capture", "-i", "lo", "--write", same, "-o", same, "--format", "json"}, "is the file --write " + same + " keeps the packets in"},
		{[]string{"capture", "-i", "lo", "--write", filepath.Join(dir, "ev.pcapng"), "--write-max-size", "1MiB", "-o", filepath.Join(dir, "ev-0002.pcapng"), "--format", "json"}, "keeps the packets in"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
		for path, want := range map[string][]byte{same: capture, policy: policyText, summary: summaryText, config: configText} {
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
				t.Fatalf("%q replaced %s", tc.args, path)
			}
		}
		if got, _ := os.ReadFile(inDir); len(got) < 24 || string(got[:1]) == "{" {
			t.Fatalf("%q replaced %s", tc.args, inDir)
		}
	}
}
