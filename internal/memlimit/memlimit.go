// Package memlimit says how much memory the process may still use: the system's
// available memory (MemAvailable in /proc/meminfo) or, when lower, what the memory
// limits of its cgroup and of the cgroups above it leave (cgroup v2 memory.max less
// memory.current; v1 memory.limit_in_bytes less memory.usage_in_bytes). portclass sizes
// its flow table and spool from it. It reads Linux's files; elsewhere nothing is known.
package memlimit

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Limit is the memory available to the process and what said so.
type Limit struct {
	Bytes  uint64
	Source string // "MemAvailable", or the cgroup's limit file
}

// Available reads the running system; ok is false when no source could be read.
func Available() (l Limit, ok bool) { return available("/") }

// unlimited is where a limit stops meaning anything (v1 writes 2^63 rounded to a page
// for "no limit", v2 "max").
const unlimited = 1 << 60

// available is Available with the files under root (for tests).
func available(root string) (Limit, bool) {
	var best Limit
	ok := false
	consider := func(n uint64, source string) {
		if !ok || n < best.Bytes {
			best, ok = Limit{n, source}, true
		}
	}
	if n, err := memAvailable(filepath.Join(root, "proc/meminfo")); err == nil {
		consider(n, "MemAvailable")
	}
	for _, g := range cgroups(root) {
		// The process is bound by its own cgroup's limit and by every ancestor's.
		for p := g.path; ; p = path.Dir(p) {
			dir := filepath.Join(g.mount, p)
			if limit, err := readNumber(filepath.Join(dir, g.limitFile)); err == nil && limit < unlimited {
				if usage, err := readNumber(filepath.Join(dir, g.usageFile)); err == nil {
					consider(limit-min(usage, limit), filepath.Join(dir, g.limitFile))
				}
			}
			if p == "/" || p == "." || p == "" {
				break
			}
		}
	}
	return best, ok
}

// cgroup is the memory cgroup of the process in one hierarchy.
type cgroup struct {
	mount                string // where the hierarchy is mounted
	path                 string // the process's cgroup in it
	limitFile, usageFile string
}

// cgroups lists the memory cgroups of the process (/proc/self/cgroup): the v2 one and
// the v1 memory controller's, where they are mounted.
func cgroups(root string) []cgroup {
	f, err := os.Open(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []cgroup
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		p := parts[2]
		switch {
		case parts[0] == "0" && parts[1] == "":
			for _, m := range []string{"sys/fs/cgroup", "sys/fs/cgroup/unified"} {
				mount := filepath.Join(root, m)
				if _, err := os.Stat(filepath.Join(mount, "cgroup.controllers")); err == nil {
					out = append(out, cgroup{mount, within(mount, p, "memory.max"), "memory.max", "memory.current"})
					break
				}
			}
		case strings.Contains(","+parts[1]+",", ",memory,"):
			mount := filepath.Join(root, "sys/fs/cgroup/memory")
			out = append(out, cgroup{mount, within(mount, p, "memory.limit_in_bytes"), "memory.limit_in_bytes", "memory.usage_in_bytes"})
		}
	}
	return out
}

// within is p if the hierarchy at mount has it, else "/": in a container with its own
// cgroup namespace the path /proc shows may not exist under the mount, whose root is
// the container's cgroup.
func within(mount, p, file string) string {
	if _, err := os.Stat(filepath.Join(mount, p, file)); err == nil {
		return p
	}
	return "/"
}

// memAvailable reads MemAvailable from a meminfo file, in bytes.
func memAvailable(file string) (uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !found {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, err
		}
		return kb << 10, nil
	}
	return 0, os.ErrNotExist
}

// readNumber reads a cgroup file holding one number, or "max" (unlimited).
func readNumber(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return unlimited, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
