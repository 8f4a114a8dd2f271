# etc/systemd: the service unit, tmpfiles.d and sysusers.d entries.
# Unit dir from configure (--with-systemdsystemunitdir); tmpfiles/sysusers
# dirs default to $(prefix)/lib/{tmpfiles,sysusers}.d (systemd's vendor dirs).
systemdsystemunit_DATA = etc/systemd/toolguard.service
tmpfilesdir = $(prefix)/lib/tmpfiles.d
sysusersdir = $(prefix)/lib/sysusers.d
tmpfiles_DATA = etc/systemd/toolguard.conf
sysusers_DATA = etc/systemd/sysusers/toolguard.conf

# One source name per file; installed under the names systemd expects.
etc/systemd/toolguard.service: $(srcdir)/etc/systemd/toolguard.service.in Makefile
	@$(MKDIR_P) etc/systemd
	$(AM_V_GEN)sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/etc/systemd/toolguard.service.in > $@
etc/systemd/toolguard.conf: $(srcdir)/etc/systemd/toolguard.tmpfiles
	@$(MKDIR_P) etc/systemd
	$(AM_V_GEN)cp $(srcdir)/etc/systemd/toolguard.tmpfiles $@
etc/systemd/sysusers/toolguard.conf: $(srcdir)/etc/systemd/toolguard.sysusers
	@$(MKDIR_P) etc/systemd/sysusers
	$(AM_V_GEN)cp $(srcdir)/etc/systemd/toolguard.sysusers $@

CLEANFILES += etc/systemd/toolguard.service etc/systemd/toolguard.conf \
	etc/systemd/sysusers/toolguard.conf
EXTRA_DIST += etc/systemd/toolguard.service.in etc/systemd/toolguard.tmpfiles \
	etc/systemd/toolguard.sysusers
