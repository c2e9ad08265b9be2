#!/bin/sh
# `make bench`: Socket Mode ack latency, throughput and memory of viva, next
# to a minimal Bolt for JavaScript app (bench/peer/) and a minimal slack-go
# socketmode app (bench/peer-go/) doing the same work, all against the fake
# Slack (tests/fake_slack.c, release build) on 127.0.0.1. Each runs
# BENCH_RUNS times (round-robin); the table gives the medians.
# See bench/README.md for what is measured and the caveats.
#
# Knobs (environment): BENCH_N (10000), BENCH_RATE (2000 per second),
# BENCH_DELAY_MS (20), BENCH_WORKERS (64), BENCH_QUEUE (20000),
# BENCH_RUNS (3 runs per implementation), BENCH_SKIP_BOLT=1, BENCH_SKIP_GO=1,
# BENCH_BOLT_MAX_INFLIGHT (64; 0: Bolt's unbounded default),
# BENCH_GO_MAX_INFLIGHT (64; 0: unbounded), BENCH_STRICT=1 (exit 1 when viva misses a target),
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
RUNS=${BENCH_RUNS:-3}
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
  # Where the resident memory is once the flood is over (smaps_rollup, kB):
  # anonymous (heap, stacks, arenas: the process's own) against file-backed
  # (the binary's and shared libraries' pages); Private against Shared as
  # the kernel counts them (Shared: also mapped by another process).
  eval "$(awk '{ v[$1] = $2 } END {
      printf "R_END_RSS=%d R_END_ANON=%d R_END_PRIV=%d R_END_SHARED=%d R_END_PSS=%d\n",
        v["Rss:"], v["Anonymous:"], v["Private_Clean:"] + v["Private_Dirty:"],
        v["Shared_Clean:"] + v["Shared_Dirty:"], v["Pss:"] }' "/proc/$APP_PID/smaps_rollup" 2>/dev/null ||
    echo 'R_END_RSS=0 R_END_ANON=0 R_END_PRIV=0 R_END_SHARED=0 R_END_PSS=0')"

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
  say "$name: acks=$R_ACKS timeouts=$R_TMO late=$R_LATE connections=$R_HELLOS protocol_errors=$R_PERR responses=$R_RESP_OK/$R_RESP last_reply_ms=$R_DONE_MS peak_rss_kb=$R_PEAK"
  return 0
}

# record NAME RUN RC: one run's R_* as a JSON line in $TMP/runs.jsonl
record() {
  jq -cn --arg impl "$1" --argjson run "$2" --argjson rc "${3:-null}" \
    --argjson acks "${R_ACKS:-0}" --argjson p50 "${R_P50:-0}" --argjson p99 "${R_P99:-0}" \
    --argjson max "${R_MAX:-0}" --argjson eps "${R_EPS:-0}" --argjson idle "${R_IDLE:-0}" \
    --argjson peak "${R_PEAK:-0}" --argjson anon "${R_IDLE_ANON:-0}" --argjson pss "${R_IDLE_PSS:-0}" \
    --argjson thr "${R_THREADS:-0}" --argjson resp "${R_RESP_OK:-0}" --argjson last "${R_DONE_MS:-0}" \
    --argjson tmo "${R_TMO:-0}" --argjson late "${R_LATE:-0}" --argjson hellos "${R_HELLOS:-0}" \
    --argjson perr "${R_PERR:-0}" --argjson erss "$R_END_RSS" --argjson eanon "$R_END_ANON" \
    --argjson epriv "$R_END_PRIV" --argjson eshared "$R_END_SHARED" --argjson epss "$R_END_PSS" \
    '{impl: $impl, run: $run, acks: $acks, p50_us: $p50, p99_us: $p99, max_us: $max, env_per_s: $eps,
      idle_rss_kb: $idle, peak_rss_kb: $peak, idle_rss_anon_kb: $anon, idle_pss_kb: $pss,
      end_rss_kb: $erss, end_anon_kb: $eanon, end_file_kb: ($erss - $eanon),
      end_private_kb: $epriv, end_shared_kb: $eshared, end_pss_kb: $epss,
      threads: $thr, responses_ok: $resp, last_reply_ms: $last,
      operation_timeouts: $tmo, late_acks: $late, connections: $hellos,
      protocol_errors: $perr, exit_status: $rc}' >>"$TMP/runs.jsonl"
}

# The numbers are only as good as the machine is quiet: note what else runs.
NCPU=$(nproc 2>/dev/null || echo 0)
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD0" 'BEGIN { exit !(l > 0.5) }'; then
  say "warning: load average $LOAD0 before the run on $NCPU CPUs: other work will show up in the tail latencies"
fi
: >"$TMP/runs.jsonl"
: >"$TMP/internal.txt"

# ---- viva -------------------------------------------------------------------
V_FAIL=0
run_viva() { # run_viva RUN
  say "viva (run $1/$RUNS): $N slash commands at $RATE/s, workers=$WORKERS queue_size=$QUEUE job delay ${DELAY_MS} ms"
  start_fake viva
  printf 'workers: %s\nqueue_size: %s\nloop_priority: %s\n' "$WORKERS" "$QUEUE" "$LOOP_PRIORITY" >"$TMP/viva.yaml"
  rm -f "$TMP"/viva.db*  # a fresh store (and durable inbox) each run
  # viva's own view of its acks (envelope read -> ack written), from /metrics,
  # on a random port: another port when that one was taken (viva exits)
  tries=0
  while :; do
    VHTTP=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 ))
    env VIVA_HTTP_LISTEN="127.0.0.1:$VHTTP" SLACK_APP_TOKEN="$APP_TOKEN" SLACK_BOT_TOKEN="$BOT_TOKEN" \
      SLACK_API_BASE="http://127.0.0.1:$PORT/api/" VIVA_DB="$TMP/viva.db" \
      VIVA_CONFIG="$TMP/viva.yaml" VIVA_LOG_LEVEL=warn \
      VIVA_DEBUG_JOB_DELAY_MS="$DELAY_MS" "$VIVA" serve >"$OUT/viva.log" 2>&1 &
    APP_PID=$!
    i=0
    while [ "$i" -lt 20 ] && alive "$APP_PID" && [ "$(state hellos)" -lt 1 ] 2>/dev/null; do
      sleep 0.1
      i=$((i + 1))
    done
    alive "$APP_PID" && break
    wait "$APP_PID" 2>/dev/null || true
    tries=$((tries + 1))
    grep -q "VIVA_HTTP_LISTEN=" "$OUT/viva.log" && [ "$tries" -lt 5 ] || break
    say "viva: port $VHTTP for /metrics was taken; another one"
    rm -f "$TMP"/viva.db*
  done
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
  printf 'run %s: %s\n' "$1" "$V_INT" >>"$TMP/internal.txt"
  [ "$1" = 1 ] && jq '.calls[0].body // empty' "$TMP/calls.json" >"$TMP/reply.json"
  stop_pid "$APP_PID" 30
  APP_PID=
  [ "$STOP_RC" = 0 ] || { say "viva exited $STOP_RC on SIGTERM (expected 0; see $OUT/viva.log)"; V_FAIL=1; }
  { [ "$R_ACKS" -ge "$N" ] && [ "$R_RESP_OK" -ge "$N" ]; } || V_FAIL=1
  record viva "$1" "$STOP_RC"
  ctl_post reset '{}' >/dev/null
  stop_fake
}

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
  [ -d bench/peer/node_modules/@slack/bolt ] && B_OK=1
fi
BOLT_VERSION=$(jq -r .version bench/peer/node_modules/@slack/bolt/package.json 2>/dev/null || echo none)
run_bolt() { # run_bolt RUN
  say "bolt (run $1/$RUNS): the same flood against node bench/peer/app.js ($(node --version), @slack/bolt $BOLT_VERSION)"
  start_fake bolt
  env SLACK_APP_TOKEN="$APP_TOKEN" SLACK_BOT_TOKEN="$BOT_TOKEN" \
    SLACK_API_URL="http://127.0.0.1:$PORT/api/" BENCH_DELAY_MS="$DELAY_MS" \
    BENCH_REPLY_FILE="$TMP/reply.json" BENCH_MAX_INFLIGHT="${BENCH_BOLT_MAX_INFLIGHT:-64}" node bench/peer/app.js >"$OUT/bolt.log" 2>&1 &
  APP_PID=$!
  wait_connected bolt
  measure bolt
  stop_pid "$APP_PID" 10
  APP_PID=
  record bolt "$1" "$STOP_RC"
  stop_fake
}

# ---- slack-go -----------------------------------------------------------------
# bench/peer-go/main.go, built here with Debian's Go and slack-go packages in
# GOPATH mode (no module download: everything comes from /usr/share/gocode).
G_OK=0
GO_PEER=build/rel/bench/go_peer
GOPATH_DEB=/usr/share/gocode
if [ "${BENCH_SKIP_GO:-0}" = 1 ]; then
  say "go: skipped (BENCH_SKIP_GO=1)"
elif ! command -v go >/dev/null 2>&1; then
  say "go: skipped (go is needed: make bench installs golang-go)"
elif [ ! -d "$GOPATH_DEB/src/github.com/slack-go/slack/socketmode" ]; then
  say "go: skipped (slack-go is needed: make bench installs golang-github-slack-go-slack-dev)"
else
  if [ ! -x "$GO_PEER" ] || [ bench/peer-go/main.go -nt "$GO_PEER" ]; then
    mkdir -p build/rel/bench
    if ! env GOPATH="$GOPATH_DEB" GO111MODULE=off GOFLAGS= GOPROXY=off GOCACHE="$ROOT/build/gocache" \
      go build -o "$GO_PEER" ./bench/peer-go >"$OUT/go_build.log" 2>&1; then
      say "go: skipped (the build failed, see $OUT/go_build.log)"
      rm -f "$GO_PEER"
    fi
  fi
  [ -x "$GO_PEER" ] && G_OK=1
fi
GO_VERSION=$(go env GOVERSION 2>/dev/null || echo none)
SLACKGO_VERSION=$(dpkg-query -W -f='${Version}' golang-github-slack-go-slack-dev 2>/dev/null || echo none)
run_go() { # run_go RUN
  say "go (run $1/$RUNS): the same flood against $GO_PEER (slack-go socketmode $SLACKGO_VERSION, $GO_VERSION)"
  start_fake go
  env SLACK_APP_TOKEN="$APP_TOKEN" SLACK_BOT_TOKEN="$BOT_TOKEN" \
    SLACK_API_URL="http://127.0.0.1:$PORT/api/" BENCH_DELAY_MS="$DELAY_MS" \
    BENCH_REPLY_FILE="$TMP/reply.json" BENCH_MAX_INFLIGHT="${BENCH_GO_MAX_INFLIGHT:-64}" "$GO_PEER" >"$OUT/go.log" 2>&1 &
  APP_PID=$!
  wait_connected go
  measure go
  stop_pid "$APP_PID" 10
  APP_PID=
  record go "$1" "$STOP_RC"
  stop_fake
}

# ---- the runs -----------------------------------------------------------------
# Round-robin, so slow drift of the machine lands on every implementation.
RUN_I=1
while [ "$RUN_I" -le "$RUNS" ]; do
  run_viva "$RUN_I"
  [ "$B_OK" = 1 ] && run_bolt "$RUN_I"
  [ "$G_OK" = 1 ] && run_go "$RUN_I"
  RUN_I=$((RUN_I + 1))
done

# ---- report -----------------------------------------------------------------
# Per implementation, the median of each column over the runs (the middle
# value; the mean of the two middle ones for an even count).
jq -s '
  def median: sort | length as $n | if $n == 0 then null
    elif $n % 2 == 1 then .[($n - 1) / 2] else ((.[$n / 2 - 1] + .[$n / 2]) / 2) end;
  group_by(.impl) | map(. as $runs | ($runs[0] | keys_unsorted - ["impl", "run", "exit_status"]) as $k
    | reduce $k[] as $f ({impl: $runs[0].impl, runs: ($runs | length)};
        .[$f] = ($runs | map(.[$f]) | median))
    | .exit_status = ($runs | map(.exit_status) | max))
  | sort_by(if .impl == "viva" then 0 elif .impl == "bolt" then 1 else 2 end)' \
  "$TMP/runs.jsonl" >"$TMP/medians.json"

med() { jq -r --arg i "$1" --arg f "$2" '.[] | select(.impl == $i) | .[$f] // 0 | if type == "number" then (. * 10 | round / 10) else . end' "$TMP/medians.json"; }
has() { jq -e --arg i "$1" 'any(.[]; .impl == $i)' "$TMP/medians.json" >/dev/null; }
ratio() { awk -v b="$1" -v v="$2" 'BEGIN { if (v > 0) printf "%.2f", b / v; else printf "n/a" }'; }
row() { printf '%-20s %6s %7s %7s %7s %9s %11s %11s\n' "$@"; }
COLS="acks p50_us p99_us max_us env_per_s idle_rss_kb peak_rss_kb"
impl_row() { # impl_row IMPL
  # shellcheck disable=SC2046
  row "$1" $(for c in $COLS; do med "$1" "$c"; done)
}
ratio_row() { # ratio_row IMPL: IMPL/viva, column by column
  line=""
  for c in $COLS; do line="$line $(ratio "$(med "$1" "$c")" "$(med viva "$c")")"; done
  # shellcheck disable=SC2086
  row "ratio ($1/viva)" $line
}
echo
printf 'medians of %s run(s) each, %s envelopes at %s/s\n' "$RUNS" "$N" "$RATE"
row impl acks p50_us p99_us max_us env_per_s idle_rss_kb peak_rss_kb
for i in viva bolt go; do if has "$i"; then impl_row "$i"; fi; done
for i in bolt go; do if has "$i"; then ratio_row "$i"; fi; done
echo
for i in viva bolt go; do
  has "$i" || continue
  printf '%-5s runs: %s\n' "$i" "$(jq -rs --arg i "$i" '[.[] | select(.impl == $i)
    | "p50 \(.p50_us) p99 \(.p99_us) peak \(.peak_rss_kb)"] | join("; ")' "$TMP/runs.jsonl")"
done
for i in viva bolt go; do
  has "$i" || continue
  printf '%-5s replies (response_url, 200) %s/%s, last %s ms after the first send; over the 3 s deadline %s, late acks %s, sockets %s, protocol errors %s\n' \
    "$i" "$(med "$i" responses_ok)" "$N" "$(med "$i" last_reply_ms)" "$(med "$i" operation_timeouts)" \
    "$(med "$i" late_acks)" "$(med "$i" connections)" "$(med "$i" protocol_errors)"
done
echo "memory (kB, medians), idle: RssAnon and PSS; after the flood (smaps_rollup): Rss = anonymous + file-backed, and Private + Shared:"
for i in viva bolt go; do
  has "$i" || continue
  printf '%-5s idle anon %s pss %s; after: rss %s = anon %s + file %s; private %s + shared %s; pss %s; peak (VmHWM) %s\n' "$i" \
    "$(med "$i" idle_rss_anon_kb)" "$(med "$i" idle_pss_kb)" "$(med "$i" end_rss_kb)" "$(med "$i" end_anon_kb)" \
    "$(med "$i" end_file_kb)" "$(med "$i" end_private_kb)" "$(med "$i" end_shared_kb)" "$(med "$i" end_pss_kb)" \
    "$(med "$i" peak_rss_kb)"
done
printf '(%s CPUs, load %s before the run)\n' "$NCPU" "$LOAD0"
printf 'viva internal ack latency (its /metrics histogram):\n'
cat "$TMP/internal.txt"
# The part of viva's idle RSS that is its libraries' (bench/floor.c).
FLOOR=build/rel/bench/floor
V_IDLE=$(med viva idle_rss_kb)
if [ -x "$FLOOR" ]; then
  mkdir -p "$TMP/floor"
  F_LINE=$("$FLOOR" "$TMP/floor/db" 2>/dev/null || true)
  F_RSS=$(printf '%s' "$F_LINE" | sed -n 's/.*floor_rss_kb=\([0-9]*\).*/\1/p')
  [ -n "$F_RSS" ] && printf 'library floor: %s kB VmRSS for a program that only links viva'"'"'s libraries and initialises libcurl, a libwebsockets context and SQLite (bench/floor.c); viva idle minus floor: %s kB\n' \
    "$F_RSS" "$(awk -v a="$V_IDLE" -v b="$F_RSS" 'BEGIN { printf "%d", a - b }')"
fi

lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
pf() { if "$@"; then echo pass; else echo MISS; fi; }
V_P50=$(med viva p50_us) V_P99=$(med viva p99_us) V_PEAK=$(med viva peak_rss_kb)
TP99=$(pf lt "$V_P99" $T_P99_US)
TIDLE=$(pf lt "$V_IDLE" $T_IDLE_KB)
TPEAK=$(pf lt "$V_PEAK" $T_PEAK_KB)
printf 'targets (viva, medians): p99 ack < %s us: %s (%s); idle RSS < %s kB: %s (%s); peak RSS < %s kB: %s (%s); exit on SIGTERM: %s\n' \
  $T_P99_US "$TP99" "$V_P99" $T_IDLE_KB "$TIDLE" "$V_IDLE" $T_PEAK_KB "$TPEAK" "$V_PEAK" "$(med viva exit_status)"
# Against the peers (issue 10): p50 and p99 below every peer's, peak RSS at
# or below the Go peer's.
TPEERS=""
for i in bolt go; do
  has "$i" || continue
  a=$(pf lt "$V_P50" "$(med "$i" p50_us)") b=$(pf lt "$V_P99" "$(med "$i" p99_us)")
  TPEERS="$TPEERS${TPEERS:+; }p50 < $i: $a ($V_P50 vs $(med "$i" p50_us)), p99 < $i: $b ($V_P99 vs $(med "$i" p99_us))"
done
if has go; then
  TGOPEAK=$(pf le "$V_PEAK" "$(med go peak_rss_kb)")
  TPEERS="$TPEERS; peak RSS <= go: $TGOPEAK ($V_PEAK vs $(med go peak_rss_kb) kB)"
fi
[ -n "$TPEERS" ] && printf 'targets against the peers (medians): %s\n' "$TPEERS"

T_END=$(date +%s%N)
ELAPSED=$(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

jq -n --slurpfile med "$TMP/medians.json" --slurpfile runs "$TMP/runs.jsonl" \
  --argjson n "$N" --argjson rate "$RATE" --argjson delay "$DELAY_MS" --argjson nruns "$RUNS" \
  --argjson workers "$WORKERS" --argjson queue "$QUEUE" --arg elapsed "$ELAPSED" \
  --argjson ncpu "$NCPU" --arg load0 "$LOAD0" \
  --arg node "$(node --version 2>/dev/null || echo none)" --arg bolt "$BOLT_VERSION" \
  --arg go "$GO_VERSION" --arg slackgo "$SLACKGO_VERSION" \
  --arg tp99 "$TP99" --arg tidle "$TIDLE" --arg tpeak "$TPEAK" --arg tpeers "$TPEERS" '
  $med[0] as $m
  | ($m | map({key: .impl, value: .}) | from_entries) as $by
  | def ratio($i): if $by[$i] == null then null else
      ["acks", "p50_us", "p99_us", "max_us", "env_per_s", "idle_rss_kb", "peak_rss_kb"]
      | map({key: ., value: (if $by.viva[.] > 0 then ($by[$i][.] / $by.viva[.] * 100 | round / 100) else null end)})
      | from_entries end;
  {bench: "socket_mode", n: $n, rate: $rate, job_delay_ms: $delay, runs_per_impl: $nruns,
   viva_workers: $workers, viva_queue_size: $queue, node: $node, bolt_version: $bolt,
   go: $go, slack_go_version: $slackgo, elapsed_s: ($elapsed | tonumber),
   cpus: $ncpu, loadavg_before: ($load0 | tonumber),
   rows: $m, runs: $runs,
   ratio_bolt_over_viva: ratio("bolt"), ratio_go_over_viva: ratio("go"),
   targets_viva: {p99_under_1000_us: $tp99, idle_rss_under_10240_kb: $tidle, peak_rss_under_20480_kb: $tpeak,
                  against_peers: $tpeers}}' >"$OUT/socket_mode.json"
echo "wrote $OUT/socket_mode.json (whole run ${ELAPSED} s)"

FAIL=$V_FAIL
if [ "${BENCH_STRICT:-0}" = 1 ] && { [ "$TP99" = MISS ] || [ "$TIDLE" = MISS ] || [ "$TPEAK" = MISS ]; }; then
  FAIL=1
fi
exit "$FAIL"
