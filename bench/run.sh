#!/bin/sh
# `make bench`: Socket Mode ack latency, throughput and memory of viva, next
# to a minimal Bolt for JavaScript app (bench/peer/) doing the same work, both
# against the fake Slack (tests/fake_slack.c, release build) on 127.0.0.1.
# See bench/README.md for what is measured and the caveats.
#
# Knobs (environment): BENCH_N (10000), BENCH_RATE (2000 per second),
# BENCH_DELAY_MS (20), BENCH_WORKERS (64), BENCH_QUEUE (20000),
# BENCH_SKIP_BOLT=1 (viva only), BENCH_BOLT_MAX_INFLIGHT (64; 0: Bolt's
# unbounded default), BENCH_STRICT=1 (exit 1 when viva misses a target),
# VIVA_BIN (./viva), FAKE_BIN (build/rel/tests/fake_slack, built here when it is the default).
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
N=${BENCH_N:-10000}
RATE=${BENCH_RATE:-2000}
DELAY_MS=${BENCH_DELAY_MS:-20}
WORKERS=${BENCH_WORKERS:-64}
QUEUE=${BENCH_QUEUE:-20000}
LOOP_PRIORITY=${BENCH_LOOP_PRIORITY:-realtime}
OUT=bench/out
VIVA=${VIVA_BIN:-./viva}
FAKE=${FAKE_BIN:-build/rel/tests/fake_slack}
APP_TOKEN=xapp-bench
BOT_TOKEN=xoxb-bench
# targets from the issue (viva only)
T_P99_US=1000
T_IDLE_KB=10240
T_PEAK_KB=20480

T_START=$(date +%s%N)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/viva-bench.XXXXXX")
FAKE_PID=
APP_PID=
PORT=

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Stops one child: SIGTERM, up to $2 s, then SIGKILL. Sets STOP_RC to its exit
# status (128+N when a signal ended it).
stop_pid() {
  STOP_RC=
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  i=0
  while [ "$i" -lt $(($2 * 10)) ] && alive "$1"; do sleep 0.1; i=$((i + 1)); done
  if alive "$1"; then
    say "pid $1 still running after $2 s: SIGKILL"
    kill -KILL "$1" 2>/dev/null || true
  fi
  STOP_RC=0
  wait "$1" 2>/dev/null || STOP_RC=$?
}

# A child that exited but was not waited for is a zombie: kill -0 still
# succeeds on it, so look at its state instead.
alive() {
  st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
  [ -n "$st" ] && [ "$st" != Z ]
}

cleanup() {
  trap - EXIT INT TERM HUP
  [ -n "$APP_PID" ] && stop_pid "$APP_PID" 5
  [ -n "$FAKE_PID" ] && stop_pid "$FAKE_PID" 5
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The fake's control API. Every request is bounded.
ctl_get() { curl -sS --max-time 30 "http://127.0.0.1:$PORT/_fake/$1"; }
ctl_post() { curl -sS --max-time 30 -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$PORT/_fake/$1"; }
state() { ctl_get state 2>/dev/null | jq -r ".$1 // 0" 2>/dev/null || echo 0; }

kb() { # kb PID FIELD: a /proc/PID/status field in kB (VmRSS, VmHWM, RssAnon)
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}
pss_kb() { # proportional set size: shared library pages split among their users
  awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0
}

# ---- prerequisites --------------------------------------------------------
for t in curl jq awk; do
  command -v "$t" >/dev/null 2>&1 || die "$t is required (make deps installs it)"
done
[ -x "$VIVA" ] || die "$VIVA is missing: run make bench (it builds it)"
if [ -z "${FAKE_BIN:-}" ]; then
  make --no-print-directory -s "$FAKE" >/dev/null || die "could not build $FAKE"
fi
[ -x "$FAKE" ] || die "$FAKE is missing"
mkdir -p "$OUT"

# ---- the fake --------------------------------------------------------------
start_fake() { # a fresh fake per implementation, so neither inherits state
  tag=$1
  : >"$TMP/fake.out"
  "$FAKE" --port 0 --app-token "$APP_TOKEN" --bot-token "$BOT_TOKEN" \
    --ack-timeout-ms 3000 >"$TMP/fake.out" 2>"$OUT/fake_$tag.log" &
  FAKE_PID=$!
  i=0
  PORT=
  while [ "$i" -lt 100 ]; do
    PORT=$(sed -n 's/^READY port=\([0-9][0-9]*\).*/\1/p' "$TMP/fake.out")
    [ -n "$PORT" ] && break
    alive "$FAKE_PID" || die "the fake exited at start (see $OUT/fake_$tag.log)"
    sleep 0.1
    i=$((i + 1))
  done
  [ -n "$PORT" ] || die "the fake printed no READY line in 10 s"
}

stop_fake() {
  stop_pid "$FAKE_PID" 5
  FAKE_PID=
  [ "$STOP_RC" = 0 ] || say "the fake exited $STOP_RC"
}

wait_connected() { # wait_connected NAME: until the fake has said hello on a socket
  i=0
  while [ "$i" -lt 300 ]; do
    [ "$(state hellos)" -ge 1 ] 2>/dev/null && return 0
    alive "$APP_PID" || die "$1 exited before connecting (see $OUT/$1.log)"
    sleep 0.1
    i=$((i + 1))
  done
  die "$1 did not connect to the fake in 30 s (see $OUT/$1.log)"
}

# ---- one measured run ------------------------------------------------------
# measure NAME: APP_PID is connected to the fake; floods it and sets
# R_* to the results.
measure() {
  name=$1
  sleep 2
  R_IDLE=$(kb "$APP_PID" VmRSS)
  R_IDLE_ANON=$(kb "$APP_PID" RssAnon)
  R_IDLE_PSS=$(pss_kb "$APP_PID")
  R_IDLE_ANON=${R_IDLE_ANON:-0} R_IDLE_PSS=${R_IDLE_PSS:-0}

  payload='{"command":"/viva","text":"help","user_id":"U0BENCH","channel_id":"C0BENCH"}'
  r=$(ctl_post flood "{\"type\":\"slash_commands\",\"count\":$N,\"rate\":$RATE,\"payload\":$payload}")
  [ "$(printf '%s' "$r" | jq -r .ok)" = true ] || die "flood refused: $r"

  # all acked (or timed out at the fake's 3 s deadline), bounded: the flood
  # itself takes N/RATE s, then up to 60 s more, polled every 0.5 s.
  # Nothing is polled while the flood runs: each poll forks curl and jq,
  # whose start-up takes CPU from the processes being measured and shows up
  # in the tail latencies. Sleep through the flood first, then poll.
  sleep "$(awk -v n="$N" -v r="$RATE" 'BEGIN { printf "%.3f", n / r + 0.2 }')"
  end=$(($(date +%s) + 60))
  limit=120
  i=0
  done_n=0
  while [ "$i" -lt "$limit" ] && [ "$(date +%s)" -lt "$end" ]; do
    sleep 0.5
    # a late ack is for an envelope already counted as timed out
    done_n=$(ctl_get state 2>/dev/null |
      jq -r '(.acks // 0) - (.late_acks // 0) + (.operation_timeouts // 0)' 2>/dev/null || true)
    done_n=${done_n:-0}
    [ "$done_n" -ge "$N" ] && break
    alive "$APP_PID" || die "$name died during the flood (see $OUT/$name.log)"
    i=$((i + 1))
  done
  [ "$done_n" -ge "$N" ] || say "$name: only $done_n of $N envelopes acked or timed out after the wait"

  # every response_url POST recorded, bounded by 60 s, or 10 s without a new
  # one. A /_fake/calls read serialises every recorded body (~7 MB for 10,000
  # replies): poll it gently, and only once the acks are in, so it cannot
  # disturb the latencies.
  end=$(($(date +%s) + 60))
  i=0
  R_RESP=0
  last_n=-1
  stall_end=$(($(date +%s) + 10))
  while [ "$i" -lt 120 ]; do
    R_RESP=$(ctl_get 'calls?method=response_url' | jq '.calls | length' 2>/dev/null || true)
    R_RESP=${R_RESP:-0}
    [ "$R_RESP" -ge "$N" ] && break
    now=$(date +%s)
    if [ "$R_RESP" != "$last_n" ]; then last_n=$R_RESP stall_end=$((now + 10)); fi
    { [ "$now" -lt "$end" ] && [ "$now" -lt "$stall_end" ]; } || break
    alive "$APP_PID" || break
    sleep 0.5
    i=$((i + 1))
  done
  [ "$R_RESP" -ge "$N" ] || say "$name: only $R_RESP of $N response_url calls (waited up to 60 s, stopped after 10 s without progress)"
  R_PEAK=$(kb "$APP_PID" VmHWM)
  R_THREADS=$(kb "$APP_PID" Threads)

  ctl_get acks >"$TMP/acks.json"
  ctl_get 'calls?method=response_url' >"$TMP/calls.json"
  ctl_get state >"$TMP/state.json"
  # The fake timestamps each envelope when written to the socket and each
  # ack when read: latency_us = ack - send; t_ms is the ack time (fake clock).
  # Throughput = acks / (first send .. last ack).
  R_ACKS=$(jq .count "$TMP/acks.json")
  R_P50=$(jq .p50_us "$TMP/acks.json")
  R_P99=$(jq .p99_us "$TMP/acks.json")
  R_MAX=$(jq .max_us "$TMP/acks.json")
  R_EPS=$(jq -r '[.acks[] | select(.late | not)] as $a
    | if ($a | length) < 2 then 0 else
      (($a | map(.t_ms * 1000 - .latency_us) | min) as $first
      | ($a | map(.t_ms * 1000) | max) as $last
      | if $last > $first then (($a | length) * 1e6 / ($last - $first) | floor) else 0 end) end' "$TMP/acks.json")
  R_RESP_OK=$(jq '[.calls[] | select(.status == 200)] | length' "$TMP/calls.json")
  # when the last reply arrived, from the first send: how long the slow work took
  R_DONE_MS=$(jq -n --slurpfile a "$TMP/acks.json" --slurpfile c "$TMP/calls.json" '
    ($a[0].acks | map(.t_ms * 1000 - .latency_us) | min) as $first
    | ($c[0].calls | map(.t_us) | max) as $last
    | if $first == null or $last == null then 0 else (($last - $first) / 1000 | floor) end')
  R_TMO=$(jq .operation_timeouts "$TMP/state.json")
  R_LATE=$(jq .late_acks "$TMP/state.json")
  R_PERR=$(jq .protocol_error_count "$TMP/state.json")
  R_HELLOS=$(jq .hellos "$TMP/state.json")
  [ "$name" = viva ] && jq '.calls[0].body // empty' "$TMP/calls.json" >"$TMP/reply.json"
  say "$name: acks=$R_ACKS timeouts=$R_TMO late=$R_LATE connections=$R_HELLOS protocol_errors=$R_PERR responses=$R_RESP_OK/$R_RESP last_reply_ms=$R_DONE_MS"
  return 0
}

# The numbers are only as good as the machine is quiet: note what else runs.
NCPU=$(nproc 2>/dev/null || echo 0)
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD0" 'BEGIN { exit !(l > 0.5) }'; then
  say "warning: load average $LOAD0 before the run on $NCPU CPUs: other work will show up in the tail latencies"
fi

# ---- viva -------------------------------------------------------------------
say "viva: $N slash commands at $RATE/s, workers=$WORKERS queue_size=$QUEUE job delay ${DELAY_MS} ms"
start_fake viva
printf 'workers: %s\nqueue_size: %s\nloop_priority: %s\n' "$WORKERS" "$QUEUE" "$LOOP_PRIORITY" >"$TMP/viva.yaml"
# viva's own view of its acks (envelope read -> ack written), from /metrics
VHTTP=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 ))
env VIVA_HTTP_LISTEN="127.0.0.1:$VHTTP" SLACK_APP_TOKEN="$APP_TOKEN" SLACK_BOT_TOKEN="$BOT_TOKEN" \
  SLACK_API_BASE="http://127.0.0.1:$PORT/api/" VIVA_DB="$TMP/viva.db" \
  VIVA_CONFIG="$TMP/viva.yaml" VIVA_TEMPLATES="$ROOT/templates" VIVA_LOG_LEVEL=warn \
  VIVA_DEBUG_JOB_DELAY_MS="$DELAY_MS" "$VIVA" serve >"$OUT/viva.log" 2>&1 &
APP_PID=$!
wait_connected viva
measure viva
# Internal ack latency: histogram buckets -> share under 1 ms and the p99 bucket bound.
curl -s "http://127.0.0.1:$VHTTP/metrics" >"$TMP/metrics.txt" 2>/dev/null || true
V_INT=$(awk '/^viva_ack_latency_seconds_bucket/ { split($0, a, "le=\""); split(a[2], b, "\""); le[n] = b[1]; c[n++] = $2 }
  /^viva_ack_latency_seconds_count/ { total = $2 }
  END { if (total == 0) { print "n/a"; exit }
        under = 0; p99 = "";
        for (i = 0; i < n; i++) { if (le[i] == "0.001") under = c[i]; if (p99 == "" && c[i] >= 0.99 * total) p99 = le[i] }
        printf "%.2f%% of %d acks written within 1 ms of reading the envelope; p99 <= %s s", 100 * under / total, total, p99 }' "$TMP/metrics.txt")
say "viva internal: $V_INT"
V_ACKS=$R_ACKS V_P50=$R_P50 V_P99=$R_P99 V_MAX=$R_MAX V_EPS=$R_EPS V_IDLE=$R_IDLE V_PEAK=$R_PEAK
V_RESP=$R_RESP_OK V_DONE=$R_DONE_MS V_TMO=$R_TMO V_PERR=$R_PERR
V_ANON=$R_IDLE_ANON V_PSS=$R_IDLE_PSS V_THR=${R_THREADS:-0} V_LATE=$R_LATE V_HELLOS=$R_HELLOS
stop_pid "$APP_PID" 30
APP_PID=
V_RC=$STOP_RC
[ "$V_RC" = 0 ] || say "viva exited $V_RC on SIGTERM (expected 0; see $OUT/viva.log)"
ctl_post reset '{}' >/dev/null
stop_fake

# ---- Bolt -------------------------------------------------------------------
B_OK=0
if [ "${BENCH_SKIP_BOLT:-0}" = 1 ]; then
  say "bolt: skipped (BENCH_SKIP_BOLT=1)"
elif ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "bolt: skipped (node and npm are needed)"
else
  if [ ! -d bench/peer/node_modules/@slack/bolt ]; then
    say "bolt: npm install in bench/peer"
    (cd bench/peer && timeout 300 npm install --no-audit --no-fund >"$ROOT/$OUT/npm.log" 2>&1) ||
      say "bolt: npm install failed (see $OUT/npm.log)"
  fi
  if [ -d bench/peer/node_modules/@slack/bolt ]; then
    say "bolt: the same flood against node bench/peer/app.js ($(node --version), @slack/bolt $(jq -r .version bench/peer/node_modules/@slack/bolt/package.json))"
    start_fake bolt
    env SLACK_APP_TOKEN="$APP_TOKEN" SLACK_BOT_TOKEN="$BOT_TOKEN" \
      SLACK_API_URL="http://127.0.0.1:$PORT/api/" BENCH_DELAY_MS="$DELAY_MS" \
      BENCH_REPLY_FILE="$TMP/reply.json" BENCH_MAX_INFLIGHT="${BENCH_BOLT_MAX_INFLIGHT:-64}" node bench/peer/app.js >"$OUT/bolt.log" 2>&1 &
    APP_PID=$!
    wait_connected bolt
    measure bolt
    B_ACKS=$R_ACKS B_P50=$R_P50 B_P99=$R_P99 B_MAX=$R_MAX B_EPS=$R_EPS B_IDLE=$R_IDLE B_PEAK=$R_PEAK
    B_RESP=$R_RESP_OK B_DONE=$R_DONE_MS B_TMO=$R_TMO B_PERR=$R_PERR
    B_ANON=$R_IDLE_ANON B_PSS=$R_IDLE_PSS B_THR=${R_THREADS:-0} B_LATE=$R_LATE B_HELLOS=$R_HELLOS
    stop_pid "$APP_PID" 10
    APP_PID=
    B_RC=$STOP_RC
    stop_fake
    B_OK=1
  fi
fi

# ---- report -----------------------------------------------------------------
ratio() { awk -v b="$1" -v v="$2" 'BEGIN { if (v > 0) printf "%.2f", b / v; else printf "n/a" }'; }
row() { printf '%-20s %6s %7s %7s %7s %9s %11s %11s\n' "$@"; }
echo
row impl acks p50_us p99_us max_us env_per_s idle_rss_kb peak_rss_kb
row viva "$V_ACKS" "$V_P50" "$V_P99" "$V_MAX" "$V_EPS" "$V_IDLE" "$V_PEAK"
if [ "$B_OK" = 1 ]; then
  row bolt "$B_ACKS" "$B_P50" "$B_P99" "$B_MAX" "$B_EPS" "$B_IDLE" "$B_PEAK"
  row 'ratio (bolt/viva)' "$(ratio "$B_ACKS" "$V_ACKS")" "$(ratio "$B_P50" "$V_P50")" \
    "$(ratio "$B_P99" "$V_P99")" "$(ratio "$B_MAX" "$V_MAX")" "$(ratio "$B_EPS" "$V_EPS")" \
    "$(ratio "$B_IDLE" "$V_IDLE")" "$(ratio "$B_PEAK" "$V_PEAK")"
fi
echo
printf 'replies (response_url, 200): viva %s/%s, last %s ms after the first send' "$V_RESP" "$N" "$V_DONE"
[ "$B_OK" = 1 ] && printf '; bolt %s/%s, last %s ms' "$B_RESP" "$N" "$B_DONE"
echo
printf 'over the 3 s deadline (operation_timeout): viva %s, late acks %s, sockets %s' "$V_TMO" "$V_LATE" "$V_HELLOS"
[ "$B_OK" = 1 ] && printf '; bolt %s, late acks %s, sockets %s' "$B_TMO" "$B_LATE" "$B_HELLOS"
echo
printf 'idle memory detail: viva anon %s kB, pss %s kB' "$V_ANON" "$V_PSS"
[ "$B_OK" = 1 ] && printf '; bolt anon %s kB, pss %s kB' "$B_ANON" "$B_PSS"
printf ' (%s CPUs, load %s before the run)\n' "$NCPU" "$LOAD0"
printf 'viva internal ack latency (its /metrics histogram): %s\n' "$V_INT"
# The part of viva's idle RSS that is its libraries' (bench/floor.c).
FLOOR=build/rel/bench/floor
if [ -x "$FLOOR" ]; then
  mkdir -p "$TMP/floor"
  F_LINE=$("$FLOOR" "$TMP/floor/db" 2>/dev/null || true)
  F_RSS=$(printf '%s' "$F_LINE" | sed -n 's/.*floor_rss_kb=\([0-9]*\).*/\1/p')
  [ -n "$F_RSS" ] && printf 'library floor: %s kB VmRSS for a program that only links viva'"'"'s libraries and initialises libcurl, a libwebsockets context and SQLite (bench/floor.c); viva idle minus floor: %s kB\n' \
    "$F_RSS" "$((V_IDLE - F_RSS))"
fi

pf() { if [ "$1" -lt "$2" ]; then echo pass; else echo MISS; fi; }
TP99=$(pf "$V_P99" $T_P99_US)
TIDLE=$(pf "$V_IDLE" $T_IDLE_KB)
TPEAK=$(pf "$V_PEAK" $T_PEAK_KB)
printf 'targets (viva): p99 ack < %s us: %s (%s); idle RSS < %s kB: %s (%s); peak RSS < %s kB: %s (%s); exit on SIGTERM: %s\n' \
  $T_P99_US "$TP99" "$V_P99" $T_IDLE_KB "$TIDLE" "$V_IDLE" $T_PEAK_KB "$TPEAK" "$V_PEAK" "$V_RC"

T_END=$(date +%s%N)
ELAPSED=$(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

impl_json() { # impl_json NAME ACKS P50 P99 MAX EPS IDLE PEAK RESP DONE TMO PERR RC ANON PSS THREADS LATE HELLOS
  jq -n --arg impl "$1" --argjson acks "$2" --argjson p50 "$3" --argjson p99 "$4" \
    --argjson max "$5" --argjson eps "$6" --argjson idle "$7" --argjson peak "$8" \
    --argjson resp "$9" --argjson last "${10}" --argjson tmo "${11}" --argjson perr "${12}" \
    --argjson rc "${13:-null}" --argjson anon "${14}" --argjson pss "${15}" --argjson thr "${16}" \
    --argjson late "${17}" --argjson hellos "${18}" \
    '{impl: $impl, acks: $acks, p50_us: $p50, p99_us: $p99, max_us: $max, env_per_s: $eps,
      idle_rss_kb: $idle, peak_rss_kb: $peak, idle_rss_anon_kb: $anon, idle_pss_kb: $pss,
      threads: $thr, responses_ok: $resp, last_reply_ms: $last,
      operation_timeouts: $tmo, late_acks: $late, connections: $hellos,
      protocol_errors: $perr, exit_status: $rc}'
}
{
  impl_json viva "$V_ACKS" "$V_P50" "$V_P99" "$V_MAX" "$V_EPS" "$V_IDLE" "$V_PEAK" \
    "$V_RESP" "$V_DONE" "$V_TMO" "$V_PERR" "$V_RC" "$V_ANON" "$V_PSS" "$V_THR" "$V_LATE" "$V_HELLOS"
  if [ "$B_OK" = 1 ]; then
    impl_json bolt "$B_ACKS" "$B_P50" "$B_P99" "$B_MAX" "$B_EPS" "$B_IDLE" "$B_PEAK" \
      "$B_RESP" "$B_DONE" "$B_TMO" "$B_PERR" "$B_RC" "$B_ANON" "$B_PSS" "$B_THR" "$B_LATE" "$B_HELLOS"
  fi
} | jq -s --argjson n "$N" --argjson rate "$RATE" --argjson delay "$DELAY_MS" \
  --argjson workers "$WORKERS" --argjson queue "$QUEUE" --arg elapsed "$ELAPSED" \
  --argjson ncpu "$NCPU" --arg load0 "$LOAD0" \
  --arg node "$(node --version 2>/dev/null || echo none)" \
  --arg bolt "$(jq -r .version bench/peer/node_modules/@slack/bolt/package.json 2>/dev/null || echo none)" \
  --arg tp99 "$TP99" --arg tidle "$TIDLE" --arg tpeak "$TPEAK" '
  def ratio(k): if .[0][k] > 0 and (.[1][k] != null) then (.[1][k] / .[0][k] * 100 | round / 100) else null end;
  {bench: "socket_mode", n: $n, rate: $rate, job_delay_ms: $delay, viva_workers: $workers,
   viva_queue_size: $queue, node: $node, bolt_version: $bolt, elapsed_s: ($elapsed | tonumber),
   cpus: $ncpu, loadavg_before: ($load0 | tonumber),
   rows: .,
   ratio_bolt_over_viva: (if length > 1 then
     {acks: ratio("acks"), p50_us: ratio("p50_us"), p99_us: ratio("p99_us"), max_us: ratio("max_us"),
      env_per_s: ratio("env_per_s"), idle_rss_kb: ratio("idle_rss_kb"), peak_rss_kb: ratio("peak_rss_kb")}
     else null end),
   targets_viva: {p99_under_1000_us: $tp99, idle_rss_under_10240_kb: $tidle, peak_rss_under_20480_kb: $tpeak}}' \
  >"$OUT/socket_mode.json"
echo "wrote $OUT/socket_mode.json (whole run ${ELAPSED} s)"

FAIL=0
[ "$V_RC" = 0 ] || FAIL=1
[ "$V_ACKS" -ge "$N" ] && [ "$V_RESP" -ge "$N" ] || FAIL=1
if [ "${BENCH_STRICT:-0}" = 1 ] && { [ "$TP99" = MISS ] || [ "$TIDLE" = MISS ] || [ "$TPEAK" = MISS ]; }; then
  FAIL=1
fi
exit "$FAIL"
