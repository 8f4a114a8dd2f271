# daemon: toolguardd, the daemon (main loop, log, event sink) and its kernel side
# (kernel.c, compile.c, scan.c, hashcache.c; the BPF skeletons come from bpf/).
sbin_PROGRAMS += daemon/toolguardd
daemon_toolguardd_SOURCES = \
	daemon/toolguardd.c daemon/state.h \
	daemon/log.c daemon/log.h \
	daemon/events.c daemon/events.h \
	daemon/notice.c daemon/notice.h \
	daemon/procinfo.c daemon/procinfo.h \
	daemon/control.c daemon/control.h \
	daemon/kernel.h daemon/kernel_internal.h daemon/kernel.c \
	daemon/compile.h daemon/compile.c \
	daemon/scan.h daemon/scan.c \
	daemon/hashcache.h daemon/hashcache.c \
	daemon/loader.h daemon/loader.c \
	daemon/script_request.h daemon/script_request.c \
	daemon/curl_loop.h daemon/curl_loop.c \
	daemon/curl_setup.h daemon/curl_setup.c \
	daemon/fetch.h daemon/fetch.c \
	daemon/report.h daemon/report.c \
	daemon/tamper.h daemon/tamper.c \
	daemon/resolve.h daemon/resolve.c
daemon_toolguardd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
daemon_toolguardd_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS) $(SYSTEMD_CFLAGS) $(JSONC_CFLAGS) \
	$(OPENSSL_CFLAGS) $(YAML_CFLAGS) $(CURL_CFLAGS)
daemon_toolguardd_LDADD = $(TG_LIB_LIBS) $(LIBBPF_LIBS) $(SYSTEMD_LIBS) $(JSONC_LIBS) \
	$(OPENSSL_LIBS) $(YAML_LIBS) $(CURL_LIBS)
# The objects include the BPF skeletons generated in the build tree's bpf/
# (listed in BUILT_SOURCES by bpf/local.mk): build those first, even for
# 'make daemon/toolguardd'.
$(daemon_toolguardd_OBJECTS): $(BUILT_SOURCES)
