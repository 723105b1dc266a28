# strata: one Makefile (git's style).  Sources are found by folder, so a new
# file in a module needs no edit here:
#   common/ format/ unionfs/ run/ builder/ registry/ -> libstrata.a (not *main.c)
#   cmd/*.c                                  -> strata
#   unionfs/main.c                           -> strata-unionfs
#   tests/unit/*.c                           -> build/tests/unit/*.t (TAP)
#   tests/integration/*.t                    -> shell TAP tests
#
#   make DEV=1                        strict warnings, -Werror
#   make SANITIZE=address,undefined   sanitizers
#   make check                        every test through prove

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

# The libraries every start of `strata` needs are linked from their static
# archives when the system has them (Debian's -dev packages ship them):
# loading and relocating seven shared libraries cost each `strata exec` and
# `strata run` more than the rest of the program's own start.  libcrypto
# gives strata SHA-256 and base64 only (some 20 KB of its 4.7 MB).  The
# price: a security update of one of them needs strata rebuilt
# (docs/ARCHITECTURE.md, "Start-up cost").  A library without an archive is
# linked shared, as before; STATIC_LIBS= links them all shared.
#   pkg-config name:archive name
STATIC_LIBS ?= fuse3:libfuse3 libzstd:libzstd zlib:libz jansson:libjansson libcap:libcap \
	libseccomp:libseccomp libcrypto:libcrypto
archive = $(shell a=$$($(CC) -print-file-name=$(1).a); [ "$$a" != "$(1).a" ] && echo "$$a")
STATIC_ARCHIVES :=
SHARED_PKGS := $(filter-out $(foreach l,$(STATIC_LIBS),$(firstword $(subst :, ,$(l)))),\
	fuse3 libzstd zlib jansson libcap libseccomp libcrypto)
$(foreach l,$(STATIC_LIBS),$(eval _a := $(call archive,$(lastword $(subst :, ,$(l)))))\
	$(if $(_a),$(eval STATIC_ARCHIVES += $(_a)),\
	$(eval SHARED_PKGS += $(firstword $(subst :, ,$(l))))))
PKGS := fuse3 libzstd zlib jansson libcap libseccomp libcrypto
# an archive's own dependencies (libfuse3: -lpthread -ldl -lrt) come from
# pkg-config --static; the shared libraries from plain pkg-config
STATIC_DEPS := $(filter-out $(patsubst lib%.a,-l%,$(notdir $(STATIC_ARCHIVES))),\
	$(shell pkg-config --static --libs-only-l $(foreach l,$(STATIC_LIBS),$(firstword $(subst :, ,$(l)))) 2>/dev/null))
# libarchive and libcurl are not linked into the programs: they are opened
# with dlopen by the verbs that use them (format/libarchive.c,
# registry/libcurl.c; common/dl.h says why).  Their sonames come from the
# installed development links.  Unit tests and helpers link them as usual.
DL_PKGS := libarchive libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DL_PKGS))
PKG_LIBS := $(STATIC_ARCHIVES) $(if $(strip $(SHARED_PKGS)),$(shell pkg-config --libs $(SHARED_PKGS))) \
	$(sort $(STATIC_DEPS))
DL_LIBS := $(shell pkg-config --libs $(DL_PKGS))
soname = $(shell objdump -p "$$($(CC) -print-file-name=$(1).so)" 2>/dev/null | awk '/SONAME/ { print $$2 }')
LIBARCHIVE_SONAME := $(call soname,libarchive)
LIBCURL_SONAME := $(call soname,libcurl)

CC ?= cc
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. \
	-DSTRATA_VERSION='"$(VERSION)"' $(PKG_CFLAGS) -pthread -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) -pthread -Wl,-O1 -Wl,--as-needed -Wl,--hash-style=gnu
LIBS = $(PKG_LIBS) -ldl -lpthread
TEST_LIBS = $(LIBS) $(DL_LIBS)
ifneq ($(LIBARCHIVE_SONAME),)
ALL_CFLAGS += -DFMT_LIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"'
endif
ifneq ($(LIBCURL_SONAME),)
ALL_CFLAGS += -DREG_LIBCURL_SONAME='"$(LIBCURL_SONAME)"'
endif

ifdef DEV
ALL_CFLAGS += -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
	-Wshadow -Wformat=2 -Wvla -Wno-unused-parameter
endif
ifdef SANITIZE
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

B := build
MODULES := common format unionfs run builder registry
LIB_SRC := $(filter-out %main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
CMD_SRC := $(wildcard cmd/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_SUPPORT := $(wildcard tests/unit/support/*.c)
HELPER_SRC := $(wildcard tests/helpers/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CMD_OBJ := $(CMD_SRC:%.c=$(B)/%.o)
UNIT_BIN := $(UNIT_SRC:%.c=$(B)/%.t)
UNIT_SUPPORT_OBJ := $(UNIT_SUPPORT:%.c=$(B)/%.o)
HELPER_BIN := $(HELPER_SRC:%.c=$(B)/%)

PROGRAMS := strata strata-unionfs

.PHONY: all check unit-tests install uninstall clean deps bench format example FORCE

all: $(PROGRAMS)

# Rebuild everything when the flags change (git's GIT-CFLAGS trick), so
# switching between DEV=1 and SANITIZE=... never mixes objects.
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || \
		echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@

$(B)/%.o: %.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libstrata.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

strata: $(CMD_OBJ) $(B)/libstrata.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(CMD_OBJ) $(B)/libstrata.a $(LIBS)

strata-unionfs: $(B)/unionfs/main.o $(B)/libstrata.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(B)/libstrata.a $(LIBS)

$(B)/tests/unit/%.t: tests/unit/%.c $(UNIT_SUPPORT_OBJ) $(B)/libstrata.a $(B)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(UNIT_SUPPORT_OBJ) $(B)/libstrata.a $(TEST_LIBS)

# Small programs integration tests call (renameat2 flags, mmap, ...):
# tests/helpers/NAME.c -> build/tests/helpers/NAME ($STRATA_HELPERS/NAME).
$(B)/tests/helpers/%: tests/helpers/%.c $(B)/libstrata.a $(B)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libstrata.a $(TEST_LIBS)

unit-tests: $(UNIT_BIN) $(HELPER_BIN)

# prove runs every TAP program; tests/run-one adds a per-test timeout so a
# hung mount can never hang the suite.
PROVE ?= prove
PROVE_FLAGS ?=
TESTS ?= $(UNIT_BIN) $(sort $(wildcard tests/integration/*.t))
check: all unit-tests
	STRATA_SRC=$(CURDIR) STRATA_BIN=$(CURDIR)/strata STRATA_UNIONFS=$(CURDIR)/strata-unionfs \
		STRATA_HELPERS=$(CURDIR)/$(B)/tests/helpers \
		$(PROVE) $(PROVE_FLAGS) --exec $(CURDIR)/tests/run-one $(TESTS)

# README's first command: a busybox base from busybox-static, then
# Containerfile.example built and run.
example: all
	./scripts/example.sh ./strata
	./strata build -f Containerfile.example -t example .
	./strata run --rm example

bench: all
	./bench/run-all

deps:
	./scripts/install-deps.sh --with-bench

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/

uninstall:
	cd $(DESTDIR)$(BINDIR) && rm -f $(PROGRAMS)

format:
	clang-format -i $(LIB_SRC) $(CMD_SRC) $(wildcard */*.h)

clean:
	rm -rf $(B) strata strata-unionfs

FORCE:

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(UNIT_SUPPORT_OBJ:.o=.d) $(UNIT_BIN:.t=.d) \
	$(HELPER_BIN:=.d)
