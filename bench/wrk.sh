# Shared by bench/run.sh, bench/reference/run.sh and bench/original/run.sh (sourced): the wrk
# runs and what is read from them, the wait for a server and its idle memory. Uses the
# caller's THREADS, CONNECTIONS, DURATION, PHASES, $work, $measured_pid and $server_pid.

# phase NAME: whether NAME is in PHASES.
phase() {
  [[ " $PHASES " == *" $1 "* ]]
}

# wrk_run NAME URL [LUA]: prints "NAME rps p50 p99 non2xx cpu", cpu being the server's CPU
# time per request in µs (user + system of the process in $measured_pid, which wrk's own
# work, Lua scripts included, does not touch). With DB_URL set (PostgreSQL), it adds what
# each request cost the database: "db_tx db_written db_fetched db_cpu", its transactions,
# rows written (inserted, updated, deleted) and rows fetched, and the CPU time in µs of every
# PostgreSQL process on this machine.
wrk_run() {
  local name=$1 url=$2 script=${3:-}
  local out ticks_before ticks_after db_before db_after
  db_before=$(db_counters)
  ticks_before=$(cpu_ticks "$measured_pid")
  if [ -n "$script" ]; then
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url")
  else
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  fi
  ticks_after=$(cpu_ticks "$measured_pid")
  db_after=$(db_counters)
  echo "$out" >"$work/$name.wrk"
  local rps p50 p99 non2xx requests cpu
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p50=$(awk '$1=="50%" { print $2 }' <<<"$out")
  p99=$(awk '$1=="99%" { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
  requests=$(awk '/requests in/ { print $1 }' <<<"$out")
  cpu=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" \
    'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "?" }')
  local db=""
  if [ -n "$db_before" ]; then
    db=$(awk -v n="${requests:-0}" -v hz="$(getconf CLK_TCK)" -v b="$db_before" -v a="$db_after" \
      'BEGIN { split(b, x, " "); split(a, y, " ");
               if (n == 0) { print "? ? ? ?"; exit }
               printf "%.2f %.2f %.1f %.0f", (y[1] - x[1]) / n, (y[2] - x[2]) / n,
                 (y[3] - x[3]) / n, (y[4] - x[4]) / hz * 1e6 / n }')
  fi
  echo "$name ${rps:-0} ${p50:-?} ${p99:-?} ${non2xx:-0} $cpu${db:+ $db}"
}

# db_counters: "transactions rows_written rows_fetched cpu_ticks" of the database in DB_URL
# (from pg_stat_database) and of every PostgreSQL process; nothing when DB_URL is unset.
db_counters() {
  [ -n "${DB_URL:-}" ] || return 0
  local stats ticks
  stats=$(psql "$DB_URL" -qAtF' ' -c "SELECT xact_commit + xact_rollback,
      tup_inserted + tup_updated + tup_deleted, tup_fetched
      FROM pg_stat_database WHERE datname = current_database()")
  ticks=$(for pid in $(pgrep -x postgres); do cpu_ticks "$pid" 2>/dev/null; done \
    | awk '{ s += $1 } END { print s + 0 }')
  echo "$stats $ticks"
}

# cpu_ticks PID: the process's user and system CPU time so far, in clock ticks.
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# wrk_ops NAME: the operations line that code.lua and refresh.lua print at the end.
wrk_ops() {
  sed -n 's/^ops: //p' "$work/$1.wrk"
}

# wait_until_ready URL: waits up to 10 s for URL to answer while the server $server_pid runs;
# if it does not, prints the server's log ($work/server.log) and exits.
wait_until_ready() {
  for _ in $(seq 1 100); do
    curl -fs "$1" >/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! curl -fs "$1" >/dev/null; then
    echo "the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
}

# idle_memory PID: sets idle_rss_kib (the process's resident KiB) and idle_split: what it is
# made of, the process's own memory and the pages of its binary and libraries (shared with
# every process mapping them, read back from the file when evicted).
idle_memory() {
  idle_rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$1/status")
  idle_split=$(awk '/RssAnon/ { a = $2 } /RssFile/ { f = $2 } END { printf "%d MiB anonymous, %d MiB file-backed", a / 1024, f / 1024 }' "/proc/$1/status")
}
