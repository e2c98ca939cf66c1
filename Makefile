# Admin and packager entry points; see README.md.
DESTDIR ?=
OCF_ROOT ?= /usr/lib/ocf
MANDIR ?= /usr/share/man
DATADIR ?= /usr/share
SBINDIR ?= /usr/sbin
PYTHON ?= /usr/bin/python3

INSTALL_ARGS = --destdir "$(DESTDIR)" --ocf-root "$(OCF_ROOT)" --mandir "$(MANDIR)" --datadir "$(DATADIR)" --sbindir "$(SBINDIR)"

.PHONY: install uninstall
install:
	$(PYTHON) tools/install.py $(INSTALL_ARGS)

uninstall:
	$(PYTHON) tools/install.py --uninstall $(INSTALL_ARGS)
