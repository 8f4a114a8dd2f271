# packaging: Debian and RPM packaging, built from 'make dist's tarball.
#   make deb   -> .deb in $(builddir)/packages (packaging/build-deb.sh)
#   make rpm   -> .rpm in $(builddir)/packages (packaging/build-rpm.sh)
EXTRA_DIST += \
	packaging/README.md \
	packaging/build-deb.sh \
	packaging/build-rpm.sh \
	packaging/debian/changelog \
	packaging/debian/control \
	packaging/debian/copyright \
	packaging/debian/rules \
	packaging/debian/source/format \
	packaging/debian/toolguard.docs \
	packaging/debian/toolguard.postinst \
	packaging/debian/toolguard.prerm \
	packaging/debian/toolguard.postrm \
	packaging/rpm/toolguard.spec

.PHONY: deb rpm
deb: dist-gzip
	$(SHELL) $(srcdir)/packaging/build-deb.sh $(distdir).tar.gz packages
rpm: dist-gzip
	$(SHELL) $(srcdir)/packaging/build-rpm.sh $(distdir).tar.gz packages
