# xchg — build, test and demo. `make` builds build/xchg and build/libxchg.a;
# `make test` and `make demo` first install what a fresh Debian 12 lacks.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
BUILD   ?= build

PKGS      = zlib libarchive sqlite3 libpq libcjson libsodium
TEST_PKGS = criterion
# Debian packages behind the build, the tests and the demo.
DEBS = gcc make pkg-config zlib1g-dev libarchive-dev libsqlite3-dev libpq-dev \
       libcjson-dev libsodium-dev libcriterion-dev sqlite3 jq unzip zip python3 \
       postgresql postgresql-client clang libclang-rt-14-dev valgrind man-db

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
# The export deflates on a thread of its own (lib/handoff.c).
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -pthread

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
# -fPIC: the same objects make the static and the shared library.
XCFLAGS = -std=c11 -D_GNU_SOURCE -pthread -fPIC $(WARN) -Ilib/include -Ilib $(PKG_CFLAGS) $(CFLAGS)

# The library's version, from the public header; the soname changes with MAJOR.
VERSION = $(shell sed -n 's/^\#define XCHG_VERSION "\(.*\)"/\1/p' lib/include/xchg.h)
SOMAJOR = $(firstword $(subst ., ,$(VERSION)))
SONAME  = libxchg.so.$(SOMAJOR)

LIB_SRC = $(wildcard lib/*.c)
CLI_SRC = $(wildcard cli/*.c)
UNIT_SRC = $(wildcard tests/unit/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ = $(UNIT_SRC:%.c=$(BUILD)/%.o)

all: $(BUILD)/xchg $(BUILD)/libxchg.a $(BUILD)/libxchg.so.$(VERSION) $(BUILD)/xchg.pc

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(XCFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard $(BUILD)/lib/*.d $(BUILD)/cli/*.d $(BUILD)/tests/unit/*.d \
	$(BUILD)/tests/fuzz/*.d)

$(BUILD)/libxchg.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# Exports xchg_* only (lib/libxchg.map): the rest is the library's own.
$(BUILD)/libxchg.so.$(VERSION): $(LIB_OBJ) lib/libxchg.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/libxchg.map \
		-Wl,--no-undefined $(CFLAGS) $(LDFLAGS) -o $@ $(LIB_OBJ) $(PKG_LIBS)

$(BUILD)/xchg.pc: lib/xchg.pc.in lib/include/xchg.h
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< >$@

# The CLI compiles against the public header alone, as any other program would.
$(CLI_OBJ): XCFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -Ilib/include $(shell pkg-config --cflags libcjson) $(CFLAGS)

$(BUILD)/xchg: $(CLI_OBJ) $(BUILD)/libxchg.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libxchg.a $(PKG_LIBS)

$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/libxchg.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(BUILD)/libxchg.a \
		$(PKG_LIBS) $(shell pkg-config --libs $(TEST_PKGS))

# The tests run on a build with AddressSanitizer and UndefinedBehaviorSanitizer,
# and with the kill points the crash test stops xchg at (lib/common.h), which
# no other build has.
SAN = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
      -DXCHG_KILL_POINTS
# They also run each fuzz target for XCHG_FUZZ_SECONDS (15 by default) and
# replay its corpus and kept crashers.
test: deps fuzz-build
	$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(SAN)" LDFLAGS="$(SAN)" \
		build/asan/xchg build/asan/unit-tests
	XCHG_BIN=build/asan/xchg XCHG_UNIT=build/asan/unit-tests XCHG_FUZZ=build/fuzz tests/run

# libFuzzer targets (tests/fuzz/README.md), built with clang into build/fuzz;
# only `make test` and the fuzz targets need clang. `make fuzz` runs each
# target for FUZZ_SECONDS (10 minutes) in turn; `make -j4 fuzz` runs them side
# by side, `make fuzz-plan` just one. Crashers land in tests/fuzz/crashers/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_TARGETS  = $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_RUNS     = $(FUZZ_TARGETS:fuzz_%=fuzz-%)
FUZZ_SAN  = -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=all
FUZZ_LINK = -fsanitize=fuzzer,address,undefined

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libxchg.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libxchg.a $(PKG_LIBS)
# Kept, so that a second build compiles nothing.
.SECONDARY: $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/%.o)

fuzz-build: deps
	$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) CFLAGS="$(FUZZ_SAN)" \
		LDFLAGS="$(FUZZ_LINK)" $(FUZZ_TARGETS:%=build/fuzz/%)

fuzz: $(FUZZ_RUNS)

$(FUZZ_RUNS): fuzz-%: fuzz-build
	XCHG_FUZZ=build/fuzz tests/fuzz/run fuzz fuzz_$* $(FUZZ_SECONDS)

# Rebuilds the seed corpus in tests/fuzz/corpus from the test vectors.
fuzz-corpus:
	tests/fuzz/make-corpus

# The end-to-end exchange with every xchg run under valgrind's memcheck: any
# memory error or leak fails it (tests/valgrind). valgrind cannot run a
# sanitizer build, so this one tests the plain build/xchg.
valgrind: deps
	$(MAKE) --no-print-directory all
	XCHG_VALGRIND_BIN=$(BUILD)/xchg tests/valgrind

# The long convergence run (issue 4): SEEDS seeds of ROUNDS rounds for every
# rule set, with a SQLite and a PostgreSQL center. Takes hours at the defaults.
SEEDS  ?= 300
ROUNDS ?= 200
FIRST  ?= 1
soak: deps
	$(MAKE) --no-print-directory all $(BUILD)/unit-tests
	XCHG_UNIT=$(BUILD)/unit-tests tests/soak $(SEEDS) $(ROUNDS) $(FIRST)

# The benchmarks, never part of `make test`. bench/speed: export and import
# of N rows (N=100000; N=1000000 for the README's table) on SQLite and of
# PG_N (N/10) on PostgreSQL, next to the databases' own floors measured in
# the same run. bench/run, the fan-out: pgbench's tps at a PostgreSQL center
# before xchg and with BENCH_DESKTOPS desktops registered, `node add` and
# first-export times (about 4 minutes).
N ?= 100000
bench: deps
	$(MAKE) --no-print-directory all
	N=$(N) $(if $(PG_N),PG_N=$(PG_N)) XCHG_BIN=$(BUILD)/xchg bench/speed
	XCHG_BIN=$(BUILD)/xchg bench/run

demo: deps
	$(MAKE) --no-print-directory all
	examples/construction/demo.sh $(BUILD)/xchg

# The tool, both libraries with the header and pkg-config file, the man page,
# bash completion and the formats' documentation, under PREFIX (/usr/local);
# DESTDIR stages them for a package.
DEST = $(DESTDIR)$(PREFIX)
install: all
	install -d $(DEST)/bin $(DEST)/lib/pkgconfig $(DEST)/include $(DEST)/share/man/man1 \
		$(DEST)/share/bash-completion/completions $(DEST)/share/doc/xchg
	install -m 0755 $(BUILD)/xchg $(DEST)/bin/xchg
	install -m 0644 $(BUILD)/libxchg.a $(DEST)/lib/libxchg.a
	install -m 0755 $(BUILD)/libxchg.so.$(VERSION) $(DEST)/lib/libxchg.so.$(VERSION)
	ln -sf libxchg.so.$(VERSION) $(DEST)/lib/$(SONAME)
	ln -sf $(SONAME) $(DEST)/lib/libxchg.so
	install -m 0644 $(BUILD)/xchg.pc $(DEST)/lib/pkgconfig/xchg.pc
	install -m 0644 lib/include/xchg.h $(DEST)/include/xchg.h
	install -m 0644 cli/xchg.1 $(DEST)/share/man/man1/xchg.1
	install -m 0644 cli/xchg.bash $(DEST)/share/bash-completion/completions/xchg
	install -m 0644 formats/PLAN.md formats/PACKET.md examples/library/export.c \
		$(DEST)/share/doc/xchg/

# Installs missing Debian packages when root; otherwise names the command and stops.
# Targets that need it build in a second make run after it: with -j, a plain
# prerequisite would compile while the headers are still being installed.
deps:
	@missing=""; for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
		else \
			echo "missing packages; run: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

clean:
	rm -rf build

.PHONY: all test valgrind soak bench demo install deps clean fuzz fuzz-build fuzz-corpus $(FUZZ_RUNS)
