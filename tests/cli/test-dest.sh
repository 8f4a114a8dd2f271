#!/bin/bash
# toolctl test --host / --ip: destinations, with the hosts[] entry that decided.
. "$(dirname "$0")/lib.sh"
AT=--at=2026-08-01T00:00:00Z
t() { run "$TOOLCTL" test --policy "$EXAMPLE" $AT "$@"; }

t --host api.anthropic.com:443
ok "api.anthropic.com:443 blocked, exit 1" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via hosts[0] \"api.anthropic.com\""' 'out_line "  matched: api.anthropic.com"'
t --host API.Anthropic.COM.
ok "names: case-insensitive, trailing dot ignored" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via hosts[0] \"api.anthropic.com\""'
t --host console.anthropic.com
ok "*.anthropic.com: a subdomain" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via hosts[2] \"*.anthropic.com\""'
t --host anthropic.com
ok "*.anthropic.com does not match the apex" all 'rc_is 0' 'out_first "allow: no tool matches"'
t --host claude.ai:443
ok "claude.ai blocked" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via hosts[1] \"claude.ai\""'
t --host example.org
ok "example.org allowed, exit 0" all 'rc_is 0' 'out_first "allow: no tool matches"'
t --host example.org:443
ok "example.org:443 allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'

t --ip 160.79.104.10
ok "160.79.104.10 blocked by the CIDR" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via hosts[4] \"160.79.104.0/23\""' 'out_line "  matched: 160.79.104.10"'
t --ip 160.79.105.255:443
ok "160.79.105.255:443 (end of the /23) blocked" rc_is 1
t --ip 160.79.106.0
ok "160.79.106.0 (outside the /23) allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'
t --ip '[2607:6bc0::10]:443'
ok "[2607:6bc0::10]:443 blocked" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via hosts[5] \"2607:6bc0::/48\""'
t --ip 2607:6bc0:0:ffff::1
ok "bare IPv6 inside the /48 blocked" rc_is 1
t --ip 2607:6bc1::1
ok "IPv6 outside the /48 allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'
t --ip ::ffff:160.79.104.10
ok "IPv4-mapped IPv6 treated as IPv4" all 'rc_is 1' 'out_has "via hosts[4]"'
t --host 160.79.104.10:443
ok "an address given as --host" rc_is 1
t --host example.org --ip 160.79.104.10
ok "--host and --ip together: the address decides" all 'rc_is 1' 'out_has "via hosts[4]"'

cat >"$TMP/ports.yaml" <<POL
apiVersion: toolguard/v1
kind: Policy
metadata: {name: ports-test, serial: 1}
tools:
  - id: ports
    match:
      hosts:
        - host: svc.test.example
          ports: [443, 8443]
        - host: fd77:1::/32
          ports: [443]
POL
run "$TOOLCTL" test --policy "$TMP/ports.yaml" --host svc.test.example:8443
ok "ports: a listed port blocked" all 'rc_is 1' 'out_first "block: ports (ports) via hosts[0] \"svc.test.example ports 443,8443\""'
run "$TOOLCTL" test --policy "$TMP/ports.yaml" --host svc.test.example:80
ok "ports: another port allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'
run "$TOOLCTL" test --policy "$TMP/ports.yaml" --ip '[fd77:1::5]:443'
ok "ports on an IPv6 CIDR" all 'rc_is 1' 'out_has "via hosts[1]"'
run "$TOOLCTL" test --policy "$TMP/ports.yaml" --ip '[fd77:1::5]:22'
ok "ports on an IPv6 CIDR: other port allowed" rc_is 0

t --at 2026-06-01 --host api.anthropic.com
ok "before the warning window: allowed, with a note" all 'rc_is 0' 'out_first "allow: no tool matches"' 'out_has "  note: claude-code (Claude Code) matches via hosts[0]"'
t --at 2026-07-01 --host api.anthropic.com
ok "in the warning window: warn, exit 0" all 'rc_is 0' 'out_first "warn: claude-code (Claude Code) via hosts[0] \"api.anthropic.com\""'

t --json --host api.anthropic.com:443
ok "--json" all 'rc_is 1' 'out_has "\"kind\":\"connect\""' 'out_has "\"port\":443"' 'out_has "\"matcher\":\"hosts[0]\""'

t --host 'bad host'
ok "invalid host: usage error" rc_is 2
t --ip 300.1.1.1
ok "invalid ip: usage error" rc_is 2
t --ip 1.2.3.4:0
ok "port 0: usage error" rc_is 2
t --ip '[2607:6bc0::1'
ok "unclosed bracket: usage error" rc_is 2
t --host api.anthropic.com -- claude
ok "a command and --host together: usage error" rc_is 2

done_testing
