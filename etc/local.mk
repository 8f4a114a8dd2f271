# etc: example policy, daemon configuration, man pages.
# The example is what toolguardd runs on when there is no configuration at all.
dist_pkgdata_DATA += etc/example-policy.yaml

tgconfdir = $(sysconfdir)/toolguard
dist_tgconf_DATA = etc/toolguard.conf

# /etc/toolguard/policy.yaml starts as a copy of the example; an existing one
# (the administrator's) is never overwritten, and only an unmodified copy is
# removed by uninstall.
install-data-local: install-etc-policy
uninstall-local: uninstall-etc-policy
.PHONY: install-etc-policy uninstall-etc-policy
install-etc-policy:
	$(MKDIR_P) '$(DESTDIR)$(tgconfdir)'
	test -e '$(DESTDIR)$(tgconfdir)/policy.yaml' || \
		$(INSTALL_DATA) '$(srcdir)/etc/example-policy.yaml' '$(DESTDIR)$(tgconfdir)/policy.yaml'
uninstall-etc-policy:
	if cmp -s '$(srcdir)/etc/example-policy.yaml' '$(DESTDIR)$(tgconfdir)/policy.yaml'; then \
		rm -f '$(DESTDIR)$(tgconfdir)/policy.yaml'; fi

dist_man_MANS += doc/toolguard-policy.5 doc/toolctl.8 doc/toolguardd.8 doc/toolguard.conf.5

# bash completion
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = etc/completion/toolctl

# Quick start (README.md): installs the build dependencies, builds, runs.
EXTRA_DIST += bootstrap.sh
