# Benchmarks: built by `make bench-programs`, run by bench/run-bench.sh (root).
EXTRA_PROGRAMS = bench/exec_loop bench/connect_loop bench/dns_loop bench/dns_attach bench/hook_toggle
bench_exec_loop_SOURCES = bench/exec_loop.c
bench_connect_loop_SOURCES = bench/connect_loop.c
bench_dns_loop_SOURCES = bench/dns_loop.c
bench_dns_attach_SOURCES = bench/dns_attach.c
bench_dns_attach_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
bench_dns_attach_LDADD = $(LIBBPF_LIBS)
$(bench_dns_attach_OBJECTS): $(tg_bpf_skels)
bench_hook_toggle_SOURCES = bench/hook_toggle.c
bench_hook_toggle_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
bench_hook_toggle_LDADD = $(LIBBPF_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += bench/run-bench.sh bench/README.md bench/run-dns-bench.sh bench/run-stream-bench.sh \
	bench/run-connect-bench.sh bench/stats.awk bench/progcost.awk bench/lib.sh
.PHONY: bench bench-programs bench-connect bench-dns
bench-programs: $(EXTRA_PROGRAMS)
bench: bench-programs all
	top_srcdir=$(abs_top_srcdir) top_builddir=$(abs_top_builddir) $(SHELL) $(top_srcdir)/bench/run-bench.sh
# issue 4's two targets alone (alternating rounds; about 1.5 min and 35 s)
bench-connect: bench-programs all
	top_srcdir=$(abs_top_srcdir) top_builddir=$(abs_top_builddir) $(SHELL) $(top_srcdir)/bench/run-connect-bench.sh
bench-dns: bench-programs all
	top_srcdir=$(abs_top_srcdir) top_builddir=$(abs_top_builddir) $(SHELL) $(top_srcdir)/bench/run-dns-bench.sh

# Fleet polling (issue 5): 1,000 simulated daemons against nginx on loopback,
# run by bench/run-fleet.sh (no root, no BPF). Built by `make` so it keeps
# compiling against lib/.
noinst_PROGRAMS += bench/fleet_poll
# daemon/curl_setup.c: the daemon's own libcurl settings, so a poll costs what it costs there
bench_fleet_poll_SOURCES = bench/fleet_poll.c daemon/curl_setup.c daemon/curl_setup.h
bench_fleet_poll_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
bench_fleet_poll_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(OPENSSL_CFLAGS) $(YAML_CFLAGS)
bench_fleet_poll_LDADD = $(TG_LIB_LIBS) $(CURL_LIBS)
EXTRA_DIST += bench/run-fleet.sh
.PHONY: bench-fleet
bench-fleet: bench/fleet_poll
	top_srcdir=$(abs_top_srcdir) top_builddir=$(abs_top_builddir) $(SHELL) $(top_srcdir)/bench/run-fleet.sh
