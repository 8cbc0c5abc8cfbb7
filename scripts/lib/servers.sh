# scripts/lib/servers.sh — helpers shared by scripts/bench and scripts/build-pgo for the local
# servers they start (the simulator, gateways): ports, a bare HTTP probe, polling, and the
# gateway's config. Sourced, not run; needs bash and python3.

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# http_code PORT PATH -> the status code of a GET (bash /dev/tcp; no curl needed).
http_code() {
  timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3 && head -n1 <&3' _ "$1" "$2" 2>/dev/null \
    | awk '{print $2}' || true
}

# wait_until SECONDS CMD...: poll every 0.1 s until CMD succeeds; CMD exiting 2 gives up at once.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )) rc; shift
  while :; do
    rc=0; "$@" || rc=$?
    [ "$rc" != 0 ] || return 0
    [ "$rc" != 2 ] || return 1
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# pid_serves PID PORT: the process is alive (else exit 2: stop waiting) and /health answers 200
# (the listener is bound before the store opens, so an open port is not enough).
pid_serves() { kill -0 "$1" 2>/dev/null || return 2; [ "$(http_code "$2" /health)" = 200 ]; }

# gateway_config OUT TRYIT PORT DATA_DIR WORKERS KEY BUSY_POLL_US [MAX_CONNECTIONS]: a gateway
# config on the embedded store (log level warn) merged with the simulator's try-it JSON.
gateway_config() {
  local out=$1 tryit=$2 port=$3 data=$4 workers=$5 key=$6 busy=$7 maxconn=${8:-} limits=""
  [ -z "$maxconn" ] || limits=",\"limits\":{\"max_connections_per_worker\":$maxconn}"
  printf '{"host":"127.0.0.1","port":%s,"store_mode":"embedded","data_dir":"%s","log_level":"warn","workers":%s,"api_keys":["%s"],"busy_poll_us":%s%s}\n' \
    "$port" "$data" "$workers" "$key" "$busy" "$limits" > "$out.base"
  python3 "$(dirname "${BASH_SOURCE[0]}")/../bench_tool.py" merge-config "$out.base" "$tryit" "$out"
}
