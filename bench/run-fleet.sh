#!/bin/bash
# Fleet polling benchmark (issue 5), printed from one run (no root, no BPF):
#   bench/run-fleet.sh [--machines N] [--interval SEC] [--steady SEC]
# 1,000 simulated daemons (bench/fleet_poll) poll one signed policy on nginx
# over HTTPS on 127.0.0.1 (test CA made here) at the daemon's jittered
# interval, first with conditional requests (ETag / If-Modified-Since, as the
# daemon does), then with a full GET each poll, side by side: nginx CPU and
# bytes per poll while nothing changes, and the time from publishing a new
# serial until the last machine has verified and parsed it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
poll=$top_builddir/bench/fleet_poll
policy_src=$top_srcdir/etc/example-policy.yaml

MACHINES=${MACHINES:-1000}
INTERVAL=${INTERVAL:-10}
STEADY=${STEADY:-20}
while [ $# -gt 0 ]; do
	case $1 in
	--machines) MACHINES=$2; shift 2 ;;
	--interval) INTERVAL=$2; shift 2 ;;
	--steady) STEADY=$2; shift 2 ;;
	*) echo "usage: $0 [--machines N] [--interval SEC] [--steady SEC]" >&2; exit 2 ;;
	esac
done

[ -x "$poll" ] || { echo "bench: $poll missing: run 'make' first (or set top_builddir)"; exit 1; }
for c in nginx openssl curl; do
	command -v "$c" >/dev/null 2>&1 || { echo "bench: $c not installed (apt-get install nginx-light openssl curl)"; exit 77; }
done

work=$(mktemp -d /tmp/tgfleet.XXXXXX)
chmod 755 "$work" # nginx workers run as nobody when started as root
npid=
cleanup() {
	if [ -n "$npid" ]; then
		kill "$npid" 2>/dev/null || true
		wait "$npid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

K=$work/keys W=$work/www S=$work/stage N=$work/nginx
mkdir -p "$K" "$W/toolguard" "$S" "$N"
(
	cd "$K"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
		-days 2 -subj /CN=toolguard-bench-ca
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1\n' >srv.ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext
	openssl genpkey -algorithm ed25519 -out sign.key
	openssl pkey -in sign.key -pubout -out sign.pub
) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log"; echo "bench: openssl could not make the test CA"; exit 1; }

# The example policy as serial 1, and serial 2 with one more comment line.
policy() { # SERIAL OUT
	sed "s/^\(  serial:\).*/\1 $1/" "$policy_src" >"$2"
	[ "$1" = 1 ] || echo "# serial $1: published by run-fleet.sh" >>"$2"
	openssl pkeyutl -sign -rawin -inkey "$K/sign.key" -in "$2" | base64 -w0 >"$2.sig"
	chmod 644 "$2" "$2.sig"
}

port=
for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 20000))
	# The README's nginx example; the CPU of master and all workers is summed.
	# Keep-alive shorter than the interval, as 75 s is against 10 min: nginx
	# closes a machine's connection before its next poll.
	cat >"$N/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes auto;
pid $N/nginx.pid;
error_log $N/error.log;
events { worker_connections 4096; }
http {
	log_format fleet '\$uri \$status \$bytes_sent \$request_length';
	access_log $N/access.log fleet;
	keepalive_timeout $((INTERVAL > 10 ? 5 : INTERVAL / 2))s;
	client_body_temp_path $N/body;
	proxy_temp_path $N/proxy;
	fastcgi_temp_path $N/fastcgi;
	uwsgi_temp_path $N/uwsgi;
	scgi_temp_path $N/scgi;
	server {
		listen 127.0.0.1:$port ssl;
		ssl_certificate $K/srv.pem;
		ssl_certificate_key $K/srv.key;
		root $W;
		location /toolguard/ {
			etag on;
			default_type text/plain;
			add_header Cache-Control "no-cache";
		}
	}
}
EOF
	policy 1 "$W/toolguard/policy.yaml"
	nginx -p "$N" -c "$N/nginx.conf" 2>>"$N/error.log" &
	npid=$!
	for _ in $(seq 1 50); do
		curl -s --cacert "$K/ca.pem" -o /dev/null "https://127.0.0.1:$port/toolguard/policy.yaml" 2>/dev/null && break
		kill -0 "$npid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$npid" 2>/dev/null && break
	wait "$npid" 2>/dev/null || true
	npid= port=
done
[ -n "$port" ] || { cat "$N/error.log"; echo "bench: nginx did not start"; exit 1; }
url=https://127.0.0.1:$port/toolguard/policy.yaml

run_mode() { # MODE [--full]
	local mode=$1
	shift
	policy 1 "$W/toolguard/policy.yaml"
	policy 2 "$S/policy.yaml"
	echo "== $mode: $MACHINES machines, warm-up ${INTERVAL} s, steady ${STEADY} s, then a change" >&2
	"$poll" --url "$url" --ca-file "$K/ca.pem" --public-key "$K/sign.pub" --machines "$MACHINES" \
		--interval "$INTERVAL" --steady "$STEADY" --server-pid "$npid" --access-log "$N/access.log" \
		--publish "$S/policy.yaml" --to "$W/toolguard/policy.yaml" "$@" >"$work/result.$mode" ||
		{
			echo "bench: fleet_poll failed in mode $mode; nginx's error log:" >&2
			tail -n 20 "$N/error.log" >&2
			exit 1
		}
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
run_mode conditional
run_mode full --full
load1=$(cut -d' ' -f1-3 /proc/loadavg)

get() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$work/result.$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "x%.1f", a / b; else print "-"}'; }
pct() { awk -v a="$1" 'BEGIN {printf "%.1f%%", a * 100}'; }
row() { printf '%-44s %-22s %-22s %s\n' "$@"; }

size=$(stat -c %s "$W/toolguard/policy.yaml")
sigsize=$(stat -c %s "$W/toolguard/policy.yaml.sig")
echo
echo "toolguard fleet polling: $MACHINES machines, interval ${INTERVAL} s +-10% (the daemon's jitter; 10 min in production)"
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(($(get conditional server_procs) - 1)) workers, TLS P-256 cert, full handshake per poll; policy $size bytes + $sigsize-byte .sig"
echo "$(nproc) cores, kernel $(uname -r), simulator in $(get conditional jobs) processes; load average before/after: $load0 / $load1"
echo
row "steady phase (nothing changes)" "conditional (daemon)" "full GET every poll" "full / conditional"
row "------------------------------" "--------------------" "-------------------" "------------------"
row "polls (policy requests) in ${STEADY} s" "$(get conditional polls)" "$(get full polls)" ""
row "answered 304 Not Modified" "$(pct "$(get conditional share304)")" "$(pct "$(get full share304)")" ""
row ".sig requests" "$(get conditional sig_requests)" "$(get full sig_requests)" ""
c=$(get conditional http_bytes_per_poll) f=$(get full http_bytes_per_poll)
row "HTTP bytes sent per poll (\$bytes_sent)" "$c" "$f" "$(ratio "$f" "$c")"
c=$(get conditional wire_down_per_poll) f=$(get full wire_down_per_poll)
row "TLS bytes server->machine per poll" "$c" "$f" "$(ratio "$f" "$c")"
c=$(get conditional wire_up_per_poll) f=$(get full wire_up_per_poll)
row "TLS bytes machine->server per poll" "$c" "$f" "$(ratio "$f" "$c")"
c=$(get conditional server_cpu_us_per_poll) f=$(get full server_cpu_us_per_poll)
row "nginx CPU per poll, µs (/proc/PID/stat)" "$c ($(get conditional server_ticks) ticks)" "$f ($(get full server_ticks) ticks)" "$(ratio "$f" "$c")"
c=$(get conditional server_run_us_per_poll) f=$(get full server_run_us_per_poll)
row "nginx CPU per poll, µs (schedstat, ns)" "$c" "$f" "$(ratio "$f" "$c")"
row "nginx CPU use (% of one core)" "$(get conditional server_cpu_pct)%" "$(get full server_cpu_pct)%" ""
c=$(get conditional client_cpu_us_per_poll) f=$(get full client_cpu_us_per_poll)
row "machine-side CPU per poll, µs (simulator)" "$c" "$f" "$(ratio "$f" "$c")"
echo
row "change published -> every machine enforcing" "conditional (daemon)" "full GET every poll" ""
row "------------------------------------------" "--------------------" "-------------------" ""
row "machines with the new serial verified+parsed" "$(get conditional enforced)/$MACHINES" "$(get full enforced)/$MACHINES" ""
row "time to the last machine, s" "$(get conditional propagate_max_s)" "$(get full propagate_max_s)" ""
row "median / 99th percentile, s" "$(get conditional propagate_p50_s) / $(get conditional propagate_p99_s)" \
	"$(get full propagate_p50_s) / $(get full propagate_p99_s)" ""
row "failed / refused syncs (whole run)" "$(get conditional failed) / $(get conditional refused)" \
	"$(get full failed) / $(get full refused)" ""
for m in conditional full; do
	warn=$(awk -v a="$(get $m polls_per_s)" -v e="$(get $m expected_polls_per_s)" -v st="$(get $m max_stall_s)" \
		'BEGIN {if (a < 0.9 * e || st > 1) print "NOT kept up: the machine is too busy; rerun when idle"; else print "kept up"}')
	echo "simulator ($m): $(get $m polls_per_s) polls/s of $(get $m expected_polls_per_s) expected, longest loop turn $(get $m max_stall_s) s: $warn"
done
echo
echo "Expected: the last machine within one jittered interval, 1.1 x ${INTERVAL} s (11 min with the 10 min default),"
echo "plus its sync; the server's cost per poll does not depend on the interval, its polls per second do (machines / interval)."
