#!/usr/bin/env bash
# snapshot.sh BIN OUTDIR: every report of every command and format on the project's
# captures and (when present) the shared corpus, one file each, for a refactor to diff
# against: `scripts/snapshot.sh old/portclass /tmp/a; scripts/snapshot.sh bin/portclass
# /tmp/b; diff -r /tmp/a /tmp/b`. Runs from the module root; inputs are named by
# relative paths so outputs do not depend on where the checkout is.
set -uo pipefail
BIN=$(realpath "$1"); OUT=$2
cd "$(dirname "$0")/.."
rm -rf "$OUT"; mkdir -p "$OUT"
export PORTCLASS_LOG_LEVEL=error
run() { # name, then the command line; stdout and the exit code are kept
  local name=$1; shift
  "$BIN" "$@" >"$OUT/$name" 2>/dev/null; echo "exit $?" >>"$OUT/$name"
}
formats="text json ndjson csv md html"
caps=(testdata/*.pcap testdata/*.pcapng testdata/formats/*.pcap testdata/formats/*.pcapng)
if [ -d ../shared/pcaps ]; then
  while IFS= read -r f; do caps+=("$f"); done < <(cd .. && find shared/pcaps -type f ! -name '*.tsv' ! -name '*.md' | sort | sed 's|^|../|')
fi
for c in "${caps[@]}"; do
  n=$(echo "$c" | sed 's|^\.\./shared/pcaps/|corpus/|; s|/|_|g')
  for f in $formats; do run "analyze.$n.$f" analyze -q --format "$f" --top 0 "$c"; done
  run "analyze.$n.top3.text" analyze -q --format text --top 3 "$c"
done
for f in $formats; do
  run "analyze.noflows.$f" analyze -q --no-flows --format "$f" testdata/veeam.pcap
  run "analyze.dir.$f" analyze -q --format "$f" testdata/
  run "analyze.filter.$f" analyze -q --format "$f" --filter 'tcp port 6162 or udp' testdata/veeam.pcap
done
for f in text json md; do
  run "verify.$f" verify -q --format "$f" --policy testdata/veeam-firewall.policy.yaml testdata/veeam-firewall.pcap
  run "verify.all.$f" verify -q --format "$f" --fail-on all --policy testdata/veeam-firewall.policy.yaml testdata/veeam-firewall.pcap testdata/veeam.pcap
done
for f in text json md csv ndjson; do
  run "diff.$f" diff -q --format "$f" testdata/veeam.pcap testdata/veeam-after.pcap
  run "diff.unchanged.$f" diff -q --unchanged --format "$f" testdata/veeam-firewall.pcap testdata/veeam-after.pcap
done
tmp=/tmp/portclass-snapshot; rm -rf "$tmp"; mkdir -p "$tmp"
"$BIN" analyze -q --format json -o "$tmp/a.json" testdata/veeam.pcap
"$BIN" analyze -q --format json -o "$tmp/b.json" testdata/veeam-after.pcap
"$BIN" analyze -q --format json -o "$tmp/c.json" testdata/sample.pcapng
for f in $formats; do run "merge.$f" merge -q --format "$f" "$tmp/a.json" "$tmp/b.json" "$tmp/c.json"; done
run "diff.summaries.text" diff -q --format text "$tmp/a.json" "$tmp/b.json"
run "diff.mixed.json" diff -q --format json "$tmp/a.json" testdata/veeam-after.pcap
rm -rf "$tmp"
run learn.veeam policy learn -q testdata/veeam.pcap
run learn.firewall policy learn -q testdata/veeam-firewall.pcap testdata/sample.pcapng
for f in nftables iptables ip6tables windows-firewall; do
  run "rules.$f" policy rules -q --format "$f" --policy testdata/veeam-firewall.policy.yaml
done
for q in 6162 2500-3300 tcp/902 udp/53 ssh "data mover" 443 1058 49152-49200; do
  for f in text json; do run "ports.$(echo "$q" | tr ' /' '__').$f" ports --format "$f" "$q"; done
done
for r in backup-server backup-proxy-vmware repository-linux; do
  for f in text json; do run "ports.role.$r.$f" ports --format "$f" --role "$r"; done
done
ls "$OUT" | wc -l
