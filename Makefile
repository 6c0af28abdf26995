# Makefile for libchm, the chmstress tool and their tests (GNU make).
#
#   make               build/libchm.a, build/libchm.so, build/chmstress, the bench
#   make run           build everything and run the main job (chmstress on read-heavy)
#   make check         tests in three builds: normal, ASan+UBSan, TSan, and the
#                      normal build again under valgrind memcheck (leaks fail)
#   make check-quick | check-asan | check-tsan | check-valgrind    one run only
#   make microbench    build and run bench/chm_vs_locked
#   make mutants       libchm with planted bugs: the checks must catch each one
#   make mutants-quick a fast subset of them (CI)
#   make install PREFIX=/usr/local DESTDIR=       make uninstall    make clean
#
# Variables: CC (gcc or clang), CXX (the C++ compiler for the one C++ file,
# derived from CC: gcc -> g++, clang -> clang++), EXTRA_CFLAGS (added to every
# compile, C and C++), CFLAGS/LDFLAGS (added too), CXXFLAGS (C++ only), JOBS
# (parallel compile jobs inside `make check`), TEST_TIMEOUT (seconds per test
# binary, default 300), CHM_TEST_SCALE (override the per-build test size
# scale), BENCH_ARGS (arguments for the micro-benchmark).

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

# `cc` is make's built-in default; prefer gcc, which the project targets.
ifeq ($(origin CC),default)
CC := gcc
endif

BUILD := build
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

VERSION := $(shell sed -n 's/^\#define CHM_VERSION "\(.*\)"/\1/p' include/chm.h)
SOMAJOR := 0
SONAME := libchm.so.$(SOMAJOR)
GIT_COMMIT := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

# ---- flags ------------------------------------------------------------------
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -pthread \
               -Iinclude -Isrc/chm
OPT_CFLAGS := -O2 -g
ALL_CFLAGS = $(OPT_CFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
DEPFLAGS = -MMD -MP
LIBS := -lck -pthread
STRESS_LIBS := -lck -ljansson -lurcu-cds -lurcu-memb -lurcu-common -pthread -lm

# ---- C++: the one C++ file, src/stress/backends/cs_cuckoo_table.cc ----------
# (libcuckoo is a C++ header library; its C wrapper is a template .cc that we
# instantiate.)  CXX follows CC unless given: gcc -> g++, clang -> clang++
# (also with a prefix or version suffix: gcc-12 -> g++-12), anything else ->
# c++.  Every build variant compiles the .cc with that variant's C flags
# minus -std=..., plus -std=c++17 (libcuckoo 0.3.1 needs C++11) and
# CXXFLAGS: the same -O/-g/-fsanitize/-W flags as its C objects.
ifeq ($(origin CXX),default)
CXX := $(if $(findstring clang,$(CC)),$(subst clang,clang++,$(CC)),$(if $(findstring gcc,$(CC)),$(subst gcc,g++,$(CC)),c++))
endif
CXX_STD := -std=c++17
# $(call cxx_flags,C_FLAGS): the C++ flags of a variant.
cxx_flags = $(filter-out -std=%,$(1)) $(CXX_STD) $(CXXFLAGS)
# chmstress and the stress tests are linked by the C driver: add the C++
# runtime.  clang's C driver also needs -fsanitize-link-c++-runtime to link
# the sanitizers' C++ parts (UBSan's vptr check, ASan's operator new) in
# the sanitizer builds; gcc's shared sanitizer runtimes have them already.
CXX_RUNTIME_LIBS := -lstdc++ $(if $(findstring clang,$(CC)),-fsanitize-link-c++-runtime)
STRESS_LIBS += $(CXX_RUNTIME_LIBS)
# The Debian package of $(CXX), for the dependency check.
CXX_PACKAGE := $(if $(findstring clang,$(CXX)),clang,g++)

# ---- sources (wildcards: the file lists are changing) ------------------------
LIB_SRCS := $(sort $(wildcard src/chm/*.c))
STRESS_SRCS := $(sort $(wildcard src/stress/*.c src/stress/backends/*.c))
STRESS_CXX_SRCS := $(sort $(wildcard src/stress/backends/*.cc))
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_NAMES := $(patsubst tests/%.c,%,$(TEST_SRCS))
# Tests of the stress tool: they link its objects (all but cs_main.o).
STRESS_TEST_NAMES := $(filter test_stress_% test_cli,$(TEST_NAMES))

LIB_OBJS := $(patsubst src/chm/%.c,$(BUILD)/obj/chm/%.o,$(LIB_SRCS))
STRESS_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(STRESS_SRCS)) \
               $(patsubst src/%.cc,$(BUILD)/obj/%.o,$(STRESS_CXX_SRCS))

LIB_A := $(BUILD)/libchm.a
LIB_SO_REAL := $(BUILD)/libchm.so.$(VERSION)
LIB_SO := $(BUILD)/libchm.so
CHMSTRESS := $(BUILD)/chmstress
BENCH := $(BUILD)/bench/chm_vs_locked
BENCH_ARGS ?=
DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all run check check-quick check-asan check-tsan check-valgrind check-build microbench \
        install uninstall clean deps cppcheck FORCE

all: $(LIB_A) $(LIB_SO) $(CHMSTRESS) $(BENCH)

# ---- dependencies install themselves -----------------------------------------
# Debian packages; checked once per build tree (the stamp), installed only
# when something is missing.
# liburcu's headers live in the multiarch include directory.  libcuckoo-dev
# is header-only C++ (and its C wrapper); $(CXX_PACKAGE) brings the C++
# compiler when it is missing.
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo $$(uname -m)-linux-gnu)
DEP_HEADERS := /usr/include/ck_epoch.h /usr/include/jansson.h /usr/include/xxhash.h \
               /usr/include/$(MULTIARCH)/urcu/rculfhash.h \
               /usr/include/libcuckoo-c/cuckoo_table_template.h
# gnuplot-nox and jq: scripts/plot (charts) and scripts/gate --spread.
DEP_PACKAGES := libck-dev libjansson-dev libxxhash-dev liburcu-dev libcuckoo-dev \
                $(CXX_PACKAGE) pkg-config valgrind gnuplot-nox jq
DEP_COMMANDS := pkg-config valgrind gnuplot jq

deps: $(DEPS_STAMP)

$(DEPS_STAMP):
	@missing=""; \
	for h in $(DEP_HEADERS); do [ -f "$$h" ] || missing="$$missing $$h"; done; \
	for c in $(DEP_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	command -v $(firstword $(CXX)) >/dev/null 2>&1 || missing="$$missing $(CXX)"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: missing:$$missing; installing $(DEP_PACKAGES)"; \
	  sudo=""; \
	  if [ "$$(id -u)" != 0 ]; then \
	    if command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	    else echo "deps: not root and no sudo: install $(DEP_PACKAGES) by hand" >&2; exit 1; fi; \
	  fi; \
	  $$sudo apt-get update && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEP_PACKAGES) || exit 1; \
	  for h in $(DEP_HEADERS); do [ -f "$$h" ] || { echo "deps: $$h still missing" >&2; exit 1; }; done; \
	  command -v $(firstword $(CXX)) >/dev/null 2>&1 || { echo "deps: $(CXX) still missing" >&2; exit 1; }; \
	fi
	@mkdir -p $(@D) && touch $@

# ---- rebuild when the compiler or flags change ---------------------------------
# $(call flags_stamp,FILE,TEXT): FILE is rewritten only when TEXT differs.
define flags_stamp
	@mkdir -p $(@D); t='$(2)'; [ "$$(cat $(1) 2>/dev/null)" = "$$t" ] || printf '%s' "$$t" > $(1)
endef

$(BUILD)/obj/.flags: FORCE
	$(call flags_stamp,$@,$(CC) $(ALL_CFLAGS))

$(BUILD)/obj/.cxxflags: FORCE
	$(call flags_stamp,$@,$(CXX) $(call cxx_flags,$(STRESS_CFLAGS)))

# The git commit is compiled into chmstress --version; recompile when it changes.
$(BUILD)/obj/.git-commit: FORCE
	$(call flags_stamp,$@,$(GIT_COMMIT))

# ---- the library -------------------------------------------------------------
$(BUILD)/obj/chm/%.o: src/chm/%.c $(BUILD)/obj/.flags | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(LIB_SO_REAL): $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDFLAGS) $(LIBS)

$(LIB_SO): $(LIB_SO_REAL)
	ln -sf $(notdir $(LIB_SO_REAL)) $(BUILD)/$(SONAME)
	ln -sf $(notdir $(LIB_SO_REAL)) $@

# ---- chmstress ------------------------------------------------------------------
STRESS_CFLAGS = $(ALL_CFLAGS) -Isrc/stress

$(BUILD)/obj/stress/%.o: src/stress/%.c $(BUILD)/obj/.flags | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(STRESS_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/obj/stress/%.o: src/stress/%.cc $(BUILD)/obj/.cxxflags | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CXX) $(call cxx_flags,$(STRESS_CFLAGS)) $(DEPFLAGS) -c $< -o $@

$(BUILD)/obj/stress/cs_main.o: $(BUILD)/obj/.git-commit
$(BUILD)/obj/stress/cs_main.o: STRESS_CFLAGS += -DCS_GIT_COMMIT='"$(GIT_COMMIT)"'

$(CHMSTRESS): $(STRESS_OBJS) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $(STRESS_OBJS) $(LIB_A) $(LDFLAGS) $(STRESS_LIBS)

# ---- micro-benchmark ---------------------------------------------------------------
$(BUILD)/obj/bench/%.o: bench/%.c $(BUILD)/obj/.flags | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BENCH): $(BUILD)/obj/bench/chm_vs_locked.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LIBS)

microbench: $(BENCH)
	$(BENCH) -o $(BUILD)/microbench.json $(BENCH_ARGS)

# ---- linearizability checker benchmark ----------------------------------------------
# `make lin-bench`: build bench/lin_bench (with src/stress/cs_lin.c) and check a
# 1,000,000-op history of 1,000 keys with 2 checker threads (LIN_BENCH_ARGS).
LIN_BENCH := $(BUILD)/bench/lin_bench
LIN_BENCH_ARGS ?=
.PHONY: lin-bench
$(BUILD)/obj/bench/lin_bench.o: bench/lin_bench.c $(BUILD)/obj/.flags | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc/stress $(DEPFLAGS) -c $< -o $@

$(LIN_BENCH): $(BUILD)/obj/bench/lin_bench.o $(BUILD)/obj/stress/cs_lin.o
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) -pthread

lin-bench: $(LIN_BENCH)
	$(LIN_BENCH) $(LIN_BENCH_ARGS)

-include $(BUILD)/obj/bench/lin_bench.d

# ---- linearizability false-alarm soak -------------------------------------------------
# `make lin-soak`: 100 randomized runs of workloads/lin-hot.json against the
# unmodified map (scripts/lin_soak.sh); any failure is a false alarm.
LIN_SOAK_RUNS ?= 100
.PHONY: lin-soak
lin-soak: $(CHMSTRESS)
	CHMSTRESS=$(CHMSTRESS) scripts/lin_soak.sh $(LIN_SOAK_RUNS)

# The main job: chmstress on the bundled read-heavy workload, every map side
# by side at 1 and 2 threads, count checks on, result in results/.
RUN_ARGS ?= -w workloads/read-heavy.json -m chm,locked,null -t 1,2
run: all
	$(CHMSTRESS) run $(RUN_ARGS)

# ---- benchmarks, charts and the regression gate -------------------------------
# make bench          the standard mixes x every map x a thread sweep, repeated,
#                     side by side in one run -> results/bench-<time>.json, the
#                     chm/peer ratio table, and charts (scripts/bench; BENCH_FLAGS
#                     are passed on, e.g. BENCH_FLAGS="-t 1,2 --repeat 5")
# make plots RESULT=results/x.json    charts of any result file (scripts/plot)
# make gate           chm/locked ratios vs results/baselines/gate.json
# make gate-quick     the same, CI-sized (results/baselines/gate-quick.json)
BENCH_FLAGS ?=
bench: $(CHMSTRESS) | $(DEPS_STAMP)
	CHMSTRESS=$(CHMSTRESS) scripts/bench $(BENCH_FLAGS)

plots: | $(DEPS_STAMP)
	@[ -n "$(RESULT)" ] || { echo "make plots: give the result file: make plots RESULT=results/NAME.json" >&2; exit 2; }
	scripts/plot "$(RESULT)" $(if $(PLOT_DIR),"$(PLOT_DIR)")

gate: $(CHMSTRESS)
	CHMSTRESS=$(CHMSTRESS) scripts/gate

gate-quick: $(CHMSTRESS)
	CHMSTRESS=$(CHMSTRESS) scripts/gate --quick

.PHONY: bench plots gate gate-quick

# ---- test builds --------------------------------------------------------------------
# Three builds of the library objects and every tests/test_*.c, each into its
# own directory, all with the fault-injection hooks compiled in.  Each build
# also compiles the stress tool's sources with its flags: they make its own
# BUILD/VARIANT/chmstress (which tests/run.sh hands to the tests as
# $CHMSTRESS), and tests/test_stress_*.c and tests/test_cli.c link them (all
# but cs_main.o) and $(STRESS_LIBS); the other tests link only the library.
TEST_CFLAGS_test := -O2 -g -DCHM_FAULT_INJECTION
TEST_CFLAGS_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
                    -fno-sanitize-recover=all -DCHM_FAULT_INJECTION
TEST_CFLAGS_tsan := -O1 -g -fsanitize=thread -DCHM_FAULT_INJECTION
TEST_VARIANTS := test asan tsan

# $(call test_variant,NAME)
define test_variant
$(1)_CFLAGS = $$(TEST_CFLAGS_$(1)) $$(BASE_CFLAGS) -Itests $$(CFLAGS) $$(EXTRA_CFLAGS)
$(1)_STRESS_CFLAGS = $$($(1)_CFLAGS) -Isrc/stress
$(1)_LIB_OBJS := $$(patsubst src/chm/%.c,$$(BUILD)/$(1)/obj/%.o,$$(LIB_SRCS))
$(1)_STRESS_C_OBJS := $$(patsubst src/%.c,$$(BUILD)/$(1)/obj/%.o,$$(STRESS_SRCS))
$(1)_STRESS_CXX_OBJS := $$(patsubst src/%.cc,$$(BUILD)/$(1)/obj/%.o,$$(STRESS_CXX_SRCS))
$(1)_STRESS_OBJS := $$($(1)_STRESS_C_OBJS) $$($(1)_STRESS_CXX_OBJS)
$(1)_STRESS_LINK_OBJS := $$(filter-out %/cs_main.o,$$($(1)_STRESS_OBJS))
$(1)_CHMSTRESS := $$(BUILD)/$(1)/chmstress
$(1)_TESTS := $$(patsubst %,$$(BUILD)/$(1)/%,$$(TEST_NAMES))
$(1)_STRESS_TESTS := $$(patsubst %,$$(BUILD)/$(1)/%,$$(STRESS_TEST_NAMES))
$(1)_PLAIN_TESTS := $$(filter-out $$($(1)_STRESS_TESTS),$$($(1)_TESTS))

$$(BUILD)/$(1)/obj/.flags: FORCE
	$$(call flags_stamp,$$@,$$(CC) $$($(1)_CFLAGS))

$$(BUILD)/$(1)/obj/.cxxflags: FORCE
	$$(call flags_stamp,$$@,$$(CXX) $$(call cxx_flags,$$($(1)_STRESS_CFLAGS)))

$$($(1)_LIB_OBJS): $$(BUILD)/$(1)/obj/%.o: src/chm/%.c $$(BUILD)/$(1)/obj/.flags | $$(DEPS_STAMP)
	@mkdir -p $$(@D); rm -f $$@
	$$(CC) $$($(1)_CFLAGS) $$(DEPFLAGS) -c $$< -o $$@

$$($(1)_STRESS_C_OBJS): $$(BUILD)/$(1)/obj/%.o: src/%.c $$(BUILD)/$(1)/obj/.flags | $$(DEPS_STAMP)
	@mkdir -p $$(@D); rm -f $$@
	$$(CC) $$($(1)_STRESS_CFLAGS) $$(DEPFLAGS) -c $$< -o $$@

$$($(1)_STRESS_CXX_OBJS): $$(BUILD)/$(1)/obj/%.o: src/%.cc $$(BUILD)/$(1)/obj/.cxxflags | $$(DEPS_STAMP)
	@mkdir -p $$(@D); rm -f $$@
	$$(CXX) $$(call cxx_flags,$$($(1)_STRESS_CFLAGS)) $$(DEPFLAGS) -c $$< -o $$@

$$(BUILD)/$(1)/obj/stress/cs_main.o: $$(BUILD)/obj/.git-commit
$$(BUILD)/$(1)/obj/stress/cs_main.o: $(1)_STRESS_CFLAGS += -DCS_GIT_COMMIT='"$$(GIT_COMMIT)"'

$$($(1)_CHMSTRESS): $$($(1)_STRESS_OBJS) $$($(1)_LIB_OBJS)
	@rm -f $$@
	$$(CC) $$($(1)_CFLAGS) -o $$@ $$($(1)_STRESS_OBJS) $$($(1)_LIB_OBJS) $$(LDFLAGS) $$(STRESS_LIBS)

$$($(1)_PLAIN_TESTS): $$(BUILD)/$(1)/%: tests/%.c $$($(1)_LIB_OBJS) $$(BUILD)/$(1)/obj/.flags | $$(DEPS_STAMP)
	@rm -f $$@
	$$(CC) $$($(1)_CFLAGS) $$(DEPFLAGS) -MF $$@.d -o $$@ $$< $$($(1)_LIB_OBJS) $$(LDFLAGS) $$(LIBS) -lm

$$($(1)_STRESS_TESTS): $$(BUILD)/$(1)/%: tests/%.c $$($(1)_STRESS_LINK_OBJS) $$($(1)_LIB_OBJS) $$(BUILD)/$(1)/obj/.flags | $$(DEPS_STAMP)
	@rm -f $$@
	$$(CC) $$($(1)_STRESS_CFLAGS) $$(DEPFLAGS) -MF $$@.d -o $$@ $$< $$($(1)_STRESS_LINK_OBJS) $$($(1)_LIB_OBJS) $$(LDFLAGS) $$(STRESS_LIBS)

.PHONY: build-$(1)
build-$(1): $$($(1)_TESTS) $$($(1)_CHMSTRESS)
	@for f in $$(BUILD)/$(1)/test_*; do n=$$$${f##*/}; n=$$$${n%.d}; \
	  [ ! -e "$$$$f" ] || [ -e tests/$$$$n.c ] || rm -f "$$$$f"; done

-include $$($(1)_LIB_OBJS:.o=.d) $$($(1)_STRESS_OBJS:.o=.d) $$(patsubst %,%.d,$$($(1)_TESTS))
endef
$(foreach v,$(TEST_VARIANTS),$(eval $(call test_variant,$(v))))

# Parallel compiles inside `make check` unless the caller already gave -j.
SUBMAKE = $(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS))
# A run is BUILD:LABEL; the valgrind run reuses the normal build's binaries.
RUNS_test := test:normal
RUNS_asan := asan:asan
RUNS_tsan := tsan:tsan
RUNS_valgrind := test:valgrind

# $(call run_tests,VARIANTS,RUNS): build the variants' tests (keep going past a
# test that does not compile), run each variant's tests with tests/run.sh,
# one variant after another, then print the one summary line.
# No stale binary may run: a test that fails to compile has its binary
# removed first (its recipe), and when a library object fails to compile
# (its recipe removed it, so it is missing) every test binary of that
# variant goes, and its chmstress; when a stress object is missing, the
# variant's chmstress goes and, unless it is cs_main.o, the stress tests.
# tests/run.sh counts each missing binary as a failed test.
define run_tests
	+@st=0; \
	if ! $(SUBMAKE) -k $(addprefix build-,$(1)); then \
	  st=1; \
	  echo "*** a test build failed (see above): tests that did not build count as failed"; \
	  $(foreach v,$(1),for o in $($(v)_LIB_OBJS); do \
	    if [ ! -e $$o ]; then \
	      find $(BUILD)/$(v) -maxdepth 1 -type f -name 'test_*' ! -name '*.d' -delete; \
	      rm -f $($(v)_CHMSTRESS); \
	      break; \
	    fi; \
	  done; \
	  for o in $($(v)_STRESS_OBJS); do \
	    if [ ! -e $$o ]; then \
	      rm -f $($(v)_CHMSTRESS); \
	      [ "$${o##*/}" = cs_main.o ] || rm -f $($(v)_STRESS_TESTS); \
	    fi; \
	  done; ) \
	fi; \
	totals=""; \
	for vl in $(foreach r,$(2),$(RUNS_$(r))); do \
	  v=$${vl%%:*}; l=$${vl#*:}; \
	  rm -f $(BUILD)/$$v/run.$$l.totals; \
	  CHM_EXPECTED_TESTS="$(TEST_NAMES)" tests/run.sh $(BUILD)/$$v $$l || st=1; \
	  totals="$$totals $(BUILD)/$$v/run.$$l.totals"; \
	done; \
	p=0; f=0; \
	for t in $$totals; do \
	  if [ -r "$$t" ]; then read -r tp tf < "$$t"; p=$$((p + tp)); f=$$((f + tf)); \
	  else f=$$((f + 1)); fi; \
	done; \
	[ "$$f" -eq 0 ] || st=1; \
	echo "$$p passed, $$f failed"; \
	exit $$st
endef

check: all
	$(call run_tests,test asan tsan,test asan tsan valgrind)

check-quick:
	$(call run_tests,test,test)

check-asan:
	$(call run_tests,asan,asan)

check-tsan:
	$(call run_tests,tsan,tsan)

check-valgrind:
	$(call run_tests,test,valgrind)

# Only builds the three test trees (no run).
check-build: build-test build-asan build-tsan

# ---- mutation testing ---------------------------------------------------------------
# `make mutants` shows that the checks can fail: each mutant is libchm with ONE
# planted concurrency bug, selected by -DCHM_MUTANT_<NAME> (the #ifdef blocks
# in src/chm/*.c; never set in any other build).  scripts/mutants.sh runs
# chmstress (count checks, then linearizability when the tool has it, then the
# ASan build) or, where chmstress cannot reach the code, the small driver
# tests/mutants/chm_mutant_driver.c, on each mutant until it is caught, and
# prints one line per mutant: `NAME: caught by CHECK in S s` or `NAME: MISSED`
# (then it fails).  `none` is the unmodified library built the same way: the
# script runs every command on it first, and must see no alarm.
#
# Each variant goes to build/mutant-NAME/: obj/chm/ (the library, normal flags
# plus the mutant's define), chmstress (linked with the normal build's stress
# objects), driver, and asan/ (the library with the ASan+UBSan test flags,
# asan/chmstress linked with build/asan's stress objects).
#
#   make mutants          every mutant (each caught within 60 s on 2 cores)
#   make mutants-quick    a fast subset for CI (under a minute)
#   make mutants MUTANT_ARGS='--baseline 10'   only the false-alarm runs (control)
MUTANTS := free_no_grace put_no_lock get_ignores_fwd transfer_drops_node \
           counter_nonatomic pia_outside_lock remove_no_lock tree_reader_no_yield
MUTANTS_QUICK := put_no_lock counter_nonatomic transfer_drops_node free_no_grace
MUTANT_VARIANTS := none $(MUTANTS)
MUTANT_DRIVER_SRC := tests/mutants/chm_mutant_driver.c
MUTANT_ARGS ?=

mutant_define = $(if $(filter none,$(1)),,-DCHM_MUTANT_$(shell echo '$(1)' | tr a-z A-Z))

# $(call mutant_variant,NAME)
define mutant_variant
mutant_$(1)_DEFINE := $$(call mutant_define,$(1))
mutant_$(1)_CFLAGS = $$(ALL_CFLAGS) $$(mutant_$(1)_DEFINE)
mutant_$(1)_ASAN_CFLAGS = $$(asan_CFLAGS) $$(mutant_$(1)_DEFINE)
mutant_$(1)_OBJS := $$(patsubst src/chm/%.c,$$(BUILD)/mutant-$(1)/obj/chm/%.o,$$(LIB_SRCS))
mutant_$(1)_ASAN_OBJS := $$(patsubst src/chm/%.c,$$(BUILD)/mutant-$(1)/asan/obj/chm/%.o,$$(LIB_SRCS))
mutant_$(1)_BINS := $$(BUILD)/mutant-$(1)/chmstress $$(BUILD)/mutant-$(1)/driver \
                    $$(BUILD)/mutant-$(1)/asan/chmstress

$$(BUILD)/mutant-$(1)/obj/.flags: FORCE
	$$(call flags_stamp,$$@,$$(CC) $$(mutant_$(1)_CFLAGS))

$$(BUILD)/mutant-$(1)/asan/obj/.flags: FORCE
	$$(call flags_stamp,$$@,$$(CC) $$(mutant_$(1)_ASAN_CFLAGS))

$$(mutant_$(1)_OBJS): $$(BUILD)/mutant-$(1)/obj/chm/%.o: src/chm/%.c $$(BUILD)/mutant-$(1)/obj/.flags | $$(DEPS_STAMP)
	@mkdir -p $$(@D)
	$$(CC) $$(mutant_$(1)_CFLAGS) $$(DEPFLAGS) -c $$< -o $$@

$$(mutant_$(1)_ASAN_OBJS): $$(BUILD)/mutant-$(1)/asan/obj/chm/%.o: src/chm/%.c $$(BUILD)/mutant-$(1)/asan/obj/.flags | $$(DEPS_STAMP)
	@mkdir -p $$(@D)
	$$(CC) $$(mutant_$(1)_ASAN_CFLAGS) $$(DEPFLAGS) -c $$< -o $$@

$$(BUILD)/mutant-$(1)/chmstress: $$(STRESS_OBJS) $$(mutant_$(1)_OBJS)
	$$(CC) $$(mutant_$(1)_CFLAGS) -o $$@ $$(STRESS_OBJS) $$(mutant_$(1)_OBJS) $$(LDFLAGS) $$(STRESS_LIBS)

$$(BUILD)/mutant-$(1)/asan/chmstress: $$(asan_STRESS_OBJS) $$(mutant_$(1)_ASAN_OBJS)
	$$(CC) $$(mutant_$(1)_ASAN_CFLAGS) -o $$@ $$(asan_STRESS_OBJS) $$(mutant_$(1)_ASAN_OBJS) $$(LDFLAGS) $$(STRESS_LIBS)

$$(BUILD)/mutant-$(1)/driver: $$(MUTANT_DRIVER_SRC) $$(mutant_$(1)_OBJS) $$(BUILD)/mutant-$(1)/obj/.flags | $$(DEPS_STAMP)
	$$(CC) $$(mutant_$(1)_CFLAGS) $$(DEPFLAGS) -MF $$@.d -o $$@ $$< $$(mutant_$(1)_OBJS) $$(LDFLAGS) $$(LIBS)

.PHONY: mutant-build-$(1)
mutant-build-$(1): $$(mutant_$(1)_BINS)

-include $$(mutant_$(1)_OBJS:.o=.d) $$(mutant_$(1)_ASAN_OBJS:.o=.d) $$(BUILD)/mutant-$(1)/driver.d
endef
$(foreach v,$(MUTANT_VARIANTS),$(eval $(call mutant_variant,$(v))))

.PHONY: mutants mutants-quick mutants-build
mutants-build: $(addprefix mutant-build-,$(MUTANT_VARIANTS))

mutants: mutants-build
	scripts/mutants.sh $(MUTANT_ARGS) $(MUTANTS)

mutants-quick: mutant-build-none $(addprefix mutant-build-,$(MUTANTS_QUICK))
	scripts/mutants.sh --quick $(MUTANT_ARGS) $(MUTANTS_QUICK)

# ---- install -----------------------------------------------------------------------
$(BUILD)/chm.pc: chm.pc.in include/chm.h FORCE
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	     -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

install: all $(BUILD)/chm.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	           $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libchm.a
	install -m 755 $(LIB_SO_REAL) $(DESTDIR)$(LIBDIR)/libchm.so.$(VERSION)
	ln -sf libchm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libchm.so
	install -m 644 include/chm.h $(DESTDIR)$(INCLUDEDIR)/chm.h
	install -m 644 $(BUILD)/chm.pc $(DESTDIR)$(LIBDIR)/pkgconfig/chm.pc
	install -m 755 $(CHMSTRESS) $(DESTDIR)$(BINDIR)/chmstress
	install -m 644 man/chmstress.1 $(DESTDIR)$(MANDIR)/man1/chmstress.1
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig || true; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libchm.a $(DESTDIR)$(LIBDIR)/libchm.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libchm.so.$(VERSION) \
	      $(DESTDIR)$(INCLUDEDIR)/chm.h $(DESTDIR)$(LIBDIR)/pkgconfig/chm.pc \
	      $(DESTDIR)$(BINDIR)/chmstress $(DESTDIR)$(MANDIR)/man1/chmstress.1

# ---- misc ----------------------------------------------------------------------------
cppcheck:
	cppcheck --quiet --std=c11 --enable=warning,performance,portability \
	  --inline-suppr --error-exitcode=1 -D__GNUC__ -D_GNU_SOURCE -Iinclude -Isrc/chm \
	  src/chm src/stress bench

clean:
	rm -rf $(BUILD)

FORCE:

-include $(LIB_OBJS:.o=.d) $(STRESS_OBJS:.o=.d) $(BUILD)/obj/bench/chm_vs_locked.d
