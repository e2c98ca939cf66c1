# Admin and packager entry points; see README.md.
DESTDIR ?=
OCF_ROOT ?= /usr/lib/ocf
MANDIR ?= /usr/share/man
DATADIR ?= /usr/share
SBINDIR ?= /usr/sbin
PYTHON ?= /usr/bin/python3
# make deb: where the .deb goes (default: a new temporary directory; its path is printed)
DEBOUT ?=

INSTALL_ARGS = --destdir "$(DESTDIR)" --ocf-root "$(OCF_ROOT)" --mandir "$(MANDIR)" --datadir "$(DATADIR)" --sbindir "$(SBINDIR)"

.PHONY: install uninstall deb
install:
	$(PYTHON) tools/install.py $(INSTALL_ARGS)

uninstall:
	$(PYTHON) tools/install.py --uninstall $(INSTALL_ARGS)

# The Debian package (debian/), built out of a clean copy of the tree.
deb:
	$(PYTHON) tools/build-deb $(DEBOUT)
