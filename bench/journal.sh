#!/usr/bin/env bash
# What the address journal costs a CNI call: ADD and DEL on an empty /24 with
# the journal on and off, the same binary, with hyperfine. Rounds alternate
# the order of the two, so drift in machine load hits both alike.
#
#   bench/journal.sh                       # the static musl build (cargo dist)
#   RUNS=500 ROUNDS=5 bench/journal.sh
#
# Variables: PODLEASE (default target/x86_64-unknown-linux-musl/release/podlease,
# built with `cargo dist` if missing), RUNS per case and round (300), ROUNDS
# (3), DIR (where the data directories go; default cargo's target/tmp).
# Every call goes through `sh -c 'exec podlease <config'` (hyperfine 1.15 has
# no --input): the wrapper costs both sides the same.
set -euo pipefail
cd "$(dirname "$0")/.."

PODLEASE=${PODLEASE:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/podlease}
RUNS=${RUNS:-300}
ROUNDS=${ROUNDS:-3}
DIR=${DIR:-${CARGO_TARGET_DIR:-target}/tmp}

command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$PODLEASE" ] || cargo dist
PODLEASE=$(realpath "$PODLEASE")
mkdir -p "$DIR"
work=$(mktemp -d "$DIR/podlease-journal-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

conf() { # journal-setting data-dir
    printf '{"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"podlease","dataDir":"%s","journal":%s,"ranges":[[{"subnet":"10.10.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}' "$2" "$1"
}
conf true "$work/on" >"$work/on.json"
conf false "$work/off" >"$work/off.json"

export CNI_CONTAINERID=hyperfine CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/bench CNI_PATH=/usr/lib/cni
echo "$(hyperfine --version), $RUNS runs x $ROUNDS rounds per case, $PODLEASE, data in $work ($(stat -f -c %T "$work"))"

for round in $(seq "$ROUNDS"); do
    order="on off"
    [ $((round % 2)) = 0 ] && order="off on"
    for op in ADD DEL; do
        before=ADD
        [ "$op" = ADD ] && before=DEL
        for v in $order; do
            CNI_COMMAND=$op hyperfine -N --style none --warmup 20 --runs "$RUNS" \
                --prepare "sh -c 'CNI_COMMAND=$before exec $PODLEASE <$work/$v.json >/dev/null 2>&1 || true'" \
                -n "$v" --export-csv "$work/$op-$v-$round.csv" \
                "sh -c 'exec $PODLEASE <$work/$v.json'" >/dev/null
        done
        for v in on off; do CNI_COMMAND=DEL "$PODLEASE" <"$work/$v.json" >/dev/null 2>&1 || true; done
    done
done

echo "journal: $(wc -l <"$work/on/bench/.podlease/journal") records, $(stat -c %s "$work/on/bench/.podlease/journal") bytes"
echo
echo "| call, empty /24 | round | journal on, median µs | journal off, median µs | on − off µs | on / off |"
echo "|---|---:|---:|---:|---:|---:|"
for op in ADD DEL; do
    for round in $(seq "$ROUNDS"); do
        # CSV columns: command,mean,stddev,median,user,system,min,max (seconds).
        on=$(awk -F, 'NR == 2 { print $4 * 1e6 }' "$work/$op-on-$round.csv")
        off=$(awk -F, 'NR == 2 { print $4 * 1e6 }' "$work/$op-off-$round.csv")
        awk -v op="$op" -v r="$round" -v on="$on" -v off="$off" \
            'BEGIN { printf "| %s | %d | %.0f | %.0f | %+.0f | %.3f |\n", op, r, on, off, on - off, on / off }'
    done
done
