#!/usr/bin/env bash
# Cross-check of benches/side_by_side.rs with hyperfine: ADD and DEL on an
# empty /24, podlease against host-local and /bin/true, each a fresh process
# with the CNI variables in its environment and the config on stdin.
#
#   bench/hyperfine.sh                      # builds target/<host>/release/podlease if needed
#   RUNS=500 DIR=/var/tmp bench/hyperfine.sh
#
# Variables: PODLEASE, HOST_LOCAL, TRUE_BIN (programs), RUNS (default 300),
# DIR (where the data directories go; default $TMPDIR or /tmp).
#
# hyperfine >= 1.16 has --input: the programs are exec'd directly (-N) with
# the config file on stdin. Older versions (Debian bookworm ships 1.15) cannot
# give a command stdin without a shell, so each program is started through a
# tiny wrapper, `sh -c 'exec PROGRAM <CONFIG'`, still under -N. The wrapper
# costs the same for all three programs, so the "net" columns (median minus
# the /bin/true median) compare the plugins' own cost exactly; the plain
# ratios are diluted by the wrapper. (hyperfine's default shell mode, which
# subtracts an estimate of the shell's start-up, is too imprecise below 5 ms.)
# Either way the ADD (or DEL) before each timed DEL (or ADD) runs as an
# untimed --prepare step, so every timed call sees the same state.
set -euo pipefail
cd "$(dirname "$0")/.."

# .cargo/config.toml builds for the host tuple explicitly (static linking).
HOST_TUPLE=$(rustc -vV | sed -n 's/^host: //p')
PODLEASE=${PODLEASE:-${CARGO_TARGET_DIR:-target}/$HOST_TUPLE/release/podlease}
HOST_LOCAL=${HOST_LOCAL:-/usr/lib/cni/host-local}
TRUE_BIN=${TRUE_BIN:-/bin/true}
RUNS=${RUNS:-300}
DIR=${DIR:-${TMPDIR:-/tmp}}

command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$HOST_LOCAL" ] || { echo "$HOST_LOCAL is missing (apt-get install containernetworking-plugins)" >&2; exit 1; }
[ -x "$PODLEASE" ] || cargo build --release
PODLEASE=$(realpath "$PODLEASE")

work=$(mktemp -d "$DIR/podlease-hyperfine.XXXXXX")
trap 'rm -rf "$work"' EXIT

conf() { # ipam-type data-dir
    printf '{"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"%s","dataDir":"%s","ranges":[[{"subnet":"10.10.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}' "$1" "$2"
}
conf podlease "$work/podlease" >"$work/podlease.json"
conf host-local "$work/host-local" >"$work/host-local.json"

export CNI_CONTAINERID=hyperfine CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/bench CNI_PATH=/usr/lib/cni

names=(podlease host-local true)
bins=("$PODLEASE" "$HOST_LOCAL" "$TRUE_BIN")
confs=("$work/podlease.json" "$work/host-local.json" "$work/podlease.json")

if hyperfine --help | grep -q -- '--input'; then mode=direct; else mode=wrapper; fi
echo "hyperfine $(hyperfine --version | awk '{print $2}'), mode: $mode, $RUNS runs, data in $work"

other() { [ "$1" = ADD ] && echo DEL || echo ADD; }

for op in ADD DEL; do
    before=$(other "$op")
    csv="$work/$op.csv"
    : >"$csv"
    if [ "$mode" = direct ]; then
        for i in 0 1 2; do
            prep="sh -c 'CNI_COMMAND=$before ${bins[$i]} <${confs[$i]} >/dev/null 2>&1 || true'"
            [ "${names[$i]}" = true ] && prep=true
            CNI_COMMAND=$op hyperfine -N --style basic --warmup 20 --runs "$RUNS" \
                --input "${confs[$i]}" --prepare "$prep" -n "${names[$i]}" \
                --export-csv "$work/one.csv" "${bins[$i]}"
            tail -n +2 "$work/one.csv" >>"$csv"
        done
    else
        args=()
        cmds=()
        for i in 0 1 2; do
            prep="sh -c 'CNI_COMMAND=$before exec ${bins[$i]} <${confs[$i]} >/dev/null 2>&1 || true'"
            [ "${names[$i]}" = true ] && prep=true
            args+=(--prepare "$prep" -n "${names[$i]}")
            cmds+=("sh -c 'exec ${bins[$i]} <${confs[$i]}'")
        done
        CNI_COMMAND=$op hyperfine -N --style basic --warmup 20 --runs "$RUNS" "${args[@]}" \
            --export-csv "$work/one.csv" "${cmds[@]}"
        tail -n +2 "$work/one.csv" >>"$csv"
    fi
    # Leave nothing held between the ADD and the DEL block.
    for i in 0 1; do CNI_COMMAND=DEL "${bins[$i]}" <"${confs[$i]}" >/dev/null 2>&1 || true; done
done

echo
[ "$mode" = wrapper ] && echo "(mode wrapper: every call went through \`sh -c 'exec ...'\`; compare the net columns)"
echo "| call, empty /24 | podlease µs | host-local µs | /bin/true µs | podlease / host-local | podlease / true | net podlease µs | net host-local µs | net ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for op in ADD DEL; do
    # CSV columns: command,mean,stddev,median,user,system,min,max (seconds).
    awk -F, -v op="$op" '
        { med[$1] = $4 * 1e6 }
        END {
            p = med["podlease"]; h = med["host-local"]; t = med["true"]
            printf "| %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f | %.2f |\n", op,
                p, h, t, p / h, p / t, p - t, h - t, (p - t) / (h - t)
        }' "$work/$op.csv"
done
