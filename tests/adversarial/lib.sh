# tests/adversarial: helpers on top of tests/integration/lib.sh (same lock,
# timeout, trap, watchdog, narrow test-only bans).
#
# Every bypass prints "# tried: ..." and then either
#  - plain ok/not ok lines (the bypass is blocked: a regression fails), or
#  - for a KNOWN bypass: "ok" when it is refused after all, else
#    "not ok N - ... # TODO known bypass: REASON" (automake counts XFAIL).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

ADV_TOOL=$top_builddir/tests/adversarial/tgadv-tool
ADV_EXEC=$top_builddir/tests/adversarial/tgadv-exec

tried() { echo "# tried: $*"; }

# Events of TOOL so far (kind exec, verdict blocked).
adv_count_events() { # TOOL
	[ -s "$TG_EVENTS" ] || { echo 0; return; }
	_events_grep kind=exec verdict=blocked tool="$1" | wc -l
}

# adv_refused DESC TOOL [--anypid|--noevent] -- CMD...
# 3 TAP lines: refused (137 killed / 126 EPERM), nothing printed, an event
# (for RUN_PID; --anypid: any new event of TOOL, for commands that fork;
# --noevent: no event line, e.g. with the daemon dead).
adv_refused() {
	local desc=$1 tool=$2 evmode=pid before ev i
	shift 2
	while [ "$1" != -- ]; do
		case $1 in
		--anypid) evmode=any ;;
		--noevent) evmode=none ;;
		esac
		shift
	done
	shift
	before=$(adv_count_events "$tool")
	run_direct "$@"
	if is_refused_status "$RUN_RC"; then
		pass "$desc: refused (exit $RUN_RC, backend $TG_BACKEND)"
	else
		fail "$desc: refused (got exit $RUN_RC, want 137 killed / 126 EPERM)"
		diag_file "$RUN_ERR" 5
	fi
	if [ ! -s "$RUN_OUT" ]; then
		pass "$desc: printed nothing"
	else
		fail "$desc: printed nothing (it printed: $(head -c 200 "$RUN_OUT"))"
	fi
	case $evmode in
	pid)
		ev=$(events_find kind=exec verdict=blocked tool="$tool" pid="$RUN_PID" | head -n1)
		if [ -n "$ev" ]; then
			pass "$desc: event {exec, blocked, $tool, pid $RUN_PID} via $(json_field matcher <<<"$ev")"
		else
			fail "$desc: event {exec, blocked, $tool, pid $RUN_PID}"
			diag_file "$TG_EVENTS" 3
		fi
		;;
	any)
		for ((i = 0; i < 20; i++)); do
			[ "$(adv_count_events "$tool")" -gt "$before" ] && break
			sleep 0.1
		done
		[ "$(adv_count_events "$tool")" -gt "$before" ]
		ok $? "$desc: a new event {exec, blocked, $tool}"
		;;
	esac
}

# adv_known DESC REASON WANT_REGEX -- CMD...: one TAP line. Refused -> ok;
# ran (output matches WANT_REGEX) -> not ok # TODO known bypass: REASON;
# anything else -> plain not ok (the test itself is broken).
adv_known() {
	local desc=$1 reason=$2 want=$3
	shift 4
	run_direct "$@"
	if is_refused_status "$RUN_RC" && [ ! -s "$RUN_OUT" ]; then
		pass "$desc: refused (exit $RUN_RC)"
	elif grep -qE -- "$want" "$RUN_OUT"; then
		tap_n=$((tap_n + 1))
		echo "not ok $tap_n - $desc: refused (it ran: $(head -n1 "$RUN_OUT" | head -c 60)) # TODO known bypass: $reason"
	else
		fail "$desc: neither refused nor ran (exit $RUN_RC: $(head -c 200 "$RUN_ERR"))"
	fi
}
