noinst_LIBRARIES += lib/libtoolguard.a
lib_libtoolguard_a_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(OPENSSL_CFLAGS) $(JSONC_CFLAGS)
lib_libtoolguard_a_SOURCES = \
	lib/policy.h lib/matcher.h lib/paths.h \
	lib/diag.c \
	lib/timeutil.c \
	lib/netaddr.c \
	lib/yaml_walk.h lib/yaml_walk.c \
	lib/glob.c \
	lib/policy_parse.c \
	lib/config.c \
	lib/matcher.c \
	lib/protocol.h lib/protocol.c \
	lib/dnsmsg.h lib/dnsmsg.c \
	lib/fetchrule.h lib/fetchrule.c
# Programs linking the library add these.
TG_LIB_LIBS = lib/libtoolguard.a $(YAML_LIBS) $(OPENSSL_LIBS) $(JSONC_LIBS)
