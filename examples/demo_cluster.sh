#!/usr/bin/env bash
# A three-node converge cluster on loopback: writes on every node, a
# partition (SIGSTOP), writes on both sides, the heal (SIGCONT), and the
# nodes converging, each step timed. Stops every process it started.
#
# usage: examples/demo_cluster.sh [path/to/converge-node]
set -euo pipefail

BIN=${1:-}
if [[ -z "$BIN" ]]; then
  for c in ./build/src/converge-node ./build*/src/converge-node; do
    if [[ -x "$c" ]]; then BIN=$c; break; fi
  done
fi
if [[ -z "$BIN" || ! -x "$BIN" ]]; then
  echo "demo_cluster.sh: converge-node not found; pass its path (e.g. build/src/converge-node)" >&2
  exit 2
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/converge-demo.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

# Three free tcp ports on 127.0.0.1 (nothing answers a connect there).
PORTS=()
while (( ${#PORTS[@]} < 3 )); do
  p=$(( 20000 + RANDOM % 40000 ))
  [[ " ${PORTS[*]} " == *" $p "* ]] && continue
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORTS+=("$p"); fi
done
EP=("tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" "tcp://127.0.0.1:${PORTS[2]}")

declare -a IN OUT
for i in 0 1 2; do
  mkfifo "$DIR/in$i" "$DIR/out$i"
  peers=()
  for j in 0 1 2; do [[ $j != "$i" ]] && peers+=(--peer "${EP[$j]}"); done
  "$BIN" --id $((i + 1)) --bind "${EP[$i]}" "${peers[@]}" --gossip-ms 20 --heartbeat-ms 200 \
    <"$DIR/in$i" >"$DIR/out$i" 2>"$DIR/err$i" &
  PIDS+=($!)
  exec {fd}>"$DIR/in$i"; IN[$i]=$fd
  exec {fd}<"$DIR/out$i"; OUT[$i]=$fd
done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
send() { echo "$2" >&"${IN[$1]}"; }                       # node index, command
answer() { local l; read -r -t 5 l <&"${OUT[$1]}" || { echo "node $(( $1 + 1 )) did not answer" >&2; exit 1; }; echo "$l"; }
ask() { send "$1" "$2"; answer "$1"; }
do_on() { local r; r=$(ask "$1" "$2"); printf '  node %d> %-22s %s\n' $(( $1 + 1 )) "$2" "$r"; }

# Polls `state` on the given nodes until they agree; prints the time it took.
converge() {
  local what=$1; shift
  local t0 s first all
  t0=$(now_ms)
  for _ in $(seq 1 1000); do
    first=""; all=1
    for i in "$@"; do
      s=$(ask "$i" state)
      if [[ -z "$first" ]]; then first=$s; elif [[ "$s" != "$first" ]]; then all=0; fi
    done
    if (( all )); then
      printf '%-46s converged in %4d ms: %s\n' "$what" $(( $(now_ms) - t0 )) "$first"
      return
    fi
    sleep 0.005
  done
  echo "$what: no convergence within the time limit" >&2; exit 1
}

echo "three converge-node processes on ${EP[*]}"
echo "step 1: concurrent writes on every node"
do_on 0 "inc 5";   do_on 0 "add apple"; do_on 0 "stock-add 30"
do_on 1 "inc 2";   do_on 1 "add bread"; do_on 1 "put color blue"
do_on 2 "dec 1";   do_on 2 "add cheese"; do_on 2 "put color red"
converge "step 1: nodes 1, 2, 3" 0 1 2

echo "step 2: node 3 partitioned (SIGSTOP); writes on both sides"
kill -STOP "${PIDS[2]}"
do_on 0 "rm apple"; do_on 1 "put color green"; do_on 0 "sell 12"
send 2 "add dates"; send 2 "inc 10"
echo "  node 3> add dates, inc 10           (queued while stopped)"
converge "step 2: majority side (nodes 1, 2)" 0 1

echo "step 3: heal (SIGCONT)"
kill -CONT "${PIDS[2]}"
printf '  node 3 answers: %s, %s\n' "$(answer 2)" "$(answer 2)"
converge "step 3: all three nodes" 0 1 2

echo "step 4: node 1 grants 10 stock rights to node 2, which sells 8"
do_on 0 "grant 2 10"
for _ in $(seq 1 200); do [[ $(ask 1 rights) -ge 10 ]] && break; sleep 0.01; done
do_on 1 "sell 8"; do_on 1 "sell 8"
converge "step 4: all three nodes" 0 1 2
echo "peers of node 1: $(ask 0 peers)"
for i in 0 1 2; do ask "$i" quit >/dev/null; done
echo "done: every node quit cleanly"
