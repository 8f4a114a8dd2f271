#!/bin/sh
# dns.sh with the DNS program on the cgroup root (network.dns_hook: cgroup)
# instead of the receive tracepoint the daemon picks where it can: the same
# answers must be learned, and the same connections refused, at either hook.
TG_DNS_HOOK=cgroup exec bash "$(dirname "$0")/dns.sh" "$@"
