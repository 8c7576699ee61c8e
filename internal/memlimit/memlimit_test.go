package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, root, name, data string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

const meminfo = "MemTotal:       24683772 kB\nMemFree:        23000000 kB\nMemAvailable:   20000000 kB\n"

// TestAvailable: the lowest of MemAvailable and what each memory cgroup limit (the
// process's and its ancestors', v1 and v2, "max" and v1's huge number meaning none)
// leaves above its usage.
func TestAvailable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		bytes  uint64
		source string
	}{
		{"meminfo only", map[string]string{"proc/meminfo": meminfo}, 20000000 << 10, "MemAvailable"},
		{"v2 limit", map[string]string{
			"proc/meminfo": meminfo, "proc/self/cgroup": "0::/job/run\n",
			"sys/fs/cgroup/cgroup.controllers":     "memory\n",
			"sys/fs/cgroup/job/run/memory.max":     "268435456\n",
			"sys/fs/cgroup/job/run/memory.current": "67108864\n",
			"sys/fs/cgroup/job/memory.max":         "max\n",
			"sys/fs/cgroup/job/memory.current":     "67108864\n",
		}, 192 << 20, "sys/fs/cgroup/job/run/memory.max"},
		{"v2 parent tighter", map[string]string{
			"proc/meminfo": meminfo, "proc/self/cgroup": "0::/job/run\n",
			"sys/fs/cgroup/cgroup.controllers":     "memory\n",
			"sys/fs/cgroup/job/run/memory.max":     "max\n",
			"sys/fs/cgroup/job/run/memory.current": "1000\n",
			"sys/fs/cgroup/job/memory.max":         "100000\n",
			"sys/fs/cgroup/job/memory.current":     "200000\n", // over its limit: nothing left
		}, 0, "sys/fs/cgroup/job/memory.max"},
		{"v1 hybrid", map[string]string{
			"proc/meminfo": meminfo, "proc/self/cgroup": "5:cpu,cpuacct:/x\n4:memory:/box\n0::/\n",
			"sys/fs/cgroup/memory/box/memory.limit_in_bytes": "100663296\n",
			"sys/fs/cgroup/memory/box/memory.usage_in_bytes": "4194304\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":     "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.usage_in_bytes":     "4430143488\n",
		}, 92 << 20, "sys/fs/cgroup/memory/box/memory.limit_in_bytes"},
		{"namespaced path", map[string]string{
			"proc/meminfo": meminfo, "proc/self/cgroup": "0::/not/here\n",
			"sys/fs/cgroup/cgroup.controllers": "memory\n",
			"sys/fs/cgroup/memory.max":         "536870912\n",
			"sys/fs/cgroup/memory.current":     "0\n",
		}, 512 << 20, "sys/fs/cgroup/memory.max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, data := range tc.files {
				write(t, root, name, data)
			}
			l, ok := available(root)
			want := filepath.Join(root, tc.source)
			if tc.source == "MemAvailable" {
				want = tc.source
			}
			if !ok || l.Bytes != tc.bytes || l.Source != want {
				t.Errorf("got %+v %v, want %d from %s", l, ok, tc.bytes, want)
			}
		})
	}
	if _, ok := available(t.TempDir()); ok {
		t.Error("nothing to read, yet a limit")
	}
}
