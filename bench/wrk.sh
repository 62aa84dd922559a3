# Shared by bench/run.sh and bench/reference/run.sh (sourced): the wrk runs and what is read
# from them. Uses the caller's THREADS, CONNECTIONS, DURATION, PHASES, $work and $measured_pid.

# phase NAME: whether NAME is in PHASES.
phase() {
  [[ " $PHASES " == *" $1 "* ]]
}

# wrk_run NAME URL [LUA]: prints "NAME rps p50 p99 non2xx cpu", cpu being the server's CPU
# time per request in µs (user + system of the process in $measured_pid, which wrk's own
# work, Lua scripts included, does not touch).
wrk_run() {
  local name=$1 url=$2 script=${3:-}
  local out ticks_before ticks_after
  ticks_before=$(cpu_ticks "$measured_pid")
  if [ -n "$script" ]; then
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url")
  else
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  fi
  ticks_after=$(cpu_ticks "$measured_pid")
  echo "$out" >"$work/$name.wrk"
  local rps p50 p99 non2xx requests cpu
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p50=$(awk '$1=="50%" { print $2 }' <<<"$out")
  p99=$(awk '$1=="99%" { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
  requests=$(awk '/requests in/ { print $1 }' <<<"$out")
  cpu=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" \
    'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "?" }')
  echo "$name ${rps:-0} ${p50:-?} ${p99:-?} ${non2xx:-0} $cpu"
}

# cpu_ticks PID: the process's user and system CPU time so far, in clock ticks.
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# wrk_ops NAME: the operations line that code.lua and refresh.lua print at the end.
wrk_ops() {
  sed -n 's/^ops: //p' "$work/$1.wrk"
}
