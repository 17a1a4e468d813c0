# corio — build, test, bench, install.
#
#   make                  build/libcorio.a (native: epoll + x86-64 asm switch)
#   make demo             build and run examples/demo.c, then echo_demo.c
#   make test             Criterion suites (installs libcriterion-dev if missing)
#   make test SWITCH=ucontext   the same suites on the portable switch
#   make test-sanitize    the suites under ASan + UBSan
#   make test-tsan        the cross-thread suites under ThreadSanitizer
#   make test-windows     mingw-w64 cross build, run under wine (own harness)
#   make test-aarch64     AArch64 cross build, run under qemu-aarch64
#   make test-kqueue      kqueue backend over the kqueue test double
#   make test-faults      every system call failed in turn (ASan, Linux)
#   make fuzz             libFuzzer targets, 60 s each (FUZZ_SECONDS=)
#   make bench            name=value figures, corio beside pthreads
#   make soak             10,000 churning connections for 3 min (SOAK_SECONDS=)
#   make examples         every program in examples/
#   make install PREFIX=/usr/local DESTDIR=
#
# Variables: SWITCH=asm|ucontext  POLLER=epoll|kqueue|iocp  TARGET=native|
# windows|aarch64  B=<build dir>.  Each variant builds in its own directory
# under build/, so they never mix objects.

TARGET  ?= native
SWITCH  ?= asm
PREFIX  ?= /usr/local
DESTDIR ?=
SANITIZE ?=

ifeq ($(TARGET),windows)
  CC      := x86_64-w64-mingw32-gcc
  AR      := x86_64-w64-mingw32-ar
  NM      := x86_64-w64-mingw32-nm
  OS      := win
  ARCH    := x86_64
  POLLER  ?= iocp
  EXE     := .exe
  RUN     ?= .ci/wine-run
  LDLIBS  := -lws2_32 -lmswsock -lwinmm
  LDFLAGS += -static
  TESTFW  := harness
else ifeq ($(TARGET),aarch64)
  CC      := aarch64-linux-gnu-gcc
  AR      := aarch64-linux-gnu-ar
  NM      := aarch64-linux-gnu-nm
  OS      := posix
  ARCH    := aarch64
  POLLER  ?= epoll
  EXE     :=
  RUN     ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
  LDLIBS  := -lpthread
  LDFLAGS += -static
  TESTFW  := harness
else
  CC      ?= cc
  NM      ?= nm
  OS      := posix
  ARCH    := $(shell uname -m)
  POLLER  ?= epoll
  EXE     :=
  RUN     ?=
  LDLIBS  := -lpthread
  TESTFW  ?= criterion
endif

ifeq ($(origin B),undefined)
  ifeq ($(TARGET)$(SWITCH)$(POLLER)$(SANITIZE),nativeasmepoll)
    B := build
  else
    B := build/$(TARGET)-$(SWITCH)-$(POLLER)$(if $(SANITIZE),-$(if $(filter thread,$(SANITIZE)),tsan,san))
  endif
endif

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -Iinclude -I. -MMD -MP
CPPFLAGS += -D_GNU_SOURCE -DCORIO_POLLER_$(POLLER)
ifeq ($(SANITIZE),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif
# SANITIZE=thread: ThreadSanitizer (make test-tsan). coro/sched.c tells it
# of every stack switch.
ifeq ($(SANITIZE),thread)
  CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=thread
endif

# --- stack-clash protection ---------------------------------------------
# The library's frames larger than a page probe every page on the way
# down, so none of them can jump a task's guard page (README, "Stack size
# and guard"). Only where the compiler takes the flag; never for Windows:
# Windows compilers probe anyway (___chkstk_ms), and mingw-w64 gcc 12
# dies with an internal error on the flag. tests/test_stack_clash.c is
# built with it and tests/test_stack.c without, to test both cases.
ifneq ($(TARGET),windows)
  STACK_CLASH := $(shell $(CC) -fstack-clash-protection -Werror -x c -c /dev/null \
                   -o /dev/null 2>/dev/null && echo -fstack-clash-protection)
endif
LIB_CFLAGS := $(STACK_CLASH)
$(B)/obj/tests/test_stack_clash.c.o: CFLAGS += $(STACK_CLASH)
$(B)/obj/tests/test_stack.c.o: CFLAGS += $(if $(STACK_CLASH),-fno-stack-clash-protection)

# --- sources ----------------------------------------------------------
# Portable files are every .c in a room; files ending in _posix.c / _win.c
# belong to one OS (most of them live in os/); backends and switches are
# picked by name.
ROOMS := coro flow poller os sync net chan
ALL_C := $(foreach r,$(ROOMS),$(wildcard $(r)/*.c))
OTHER_OS := $(if $(filter win,$(OS)),posix,win)
PORTABLE := $(filter-out %_$(OTHER_OS).c coro/switch_% poller/epoll.c poller/kqueue.c poller/iocp.c,$(ALL_C))

ifeq ($(SWITCH),ucontext)
  SWITCH_SRC := coro/switch_ucontext.c
  CPPFLAGS += -DCORIO_SWITCH_UCONTEXT
else ifeq ($(TARGET),windows)
  SWITCH_SRC := coro/switch_x86_64_win64.S
else ifeq ($(ARCH),aarch64)
  SWITCH_SRC := coro/switch_aarch64_aapcs.S
else
  SWITCH_SRC := coro/switch_x86_64_sysv.S
endif

POLLER_SRC := poller/$(POLLER).c
# kqueue on Linux runs against the test double (no BSD kernel here).
ifeq ($(POLLER)-$(OS),kqueue-posix)
  ifeq ($(shell uname -s),Linux)
    POLLER_SRC += tests/kqueue_double/kqueue_double.c
    CFLAGS += -Itests/kqueue_double
  endif
endif

LIB_SRC := $(PORTABLE) $(SWITCH_SRC) $(POLLER_SRC)
LIB_OBJ := $(patsubst %,$(B)/obj/%.o,$(LIB_SRC))
LIB     := $(B)/libcorio.a

TEST_SRC := $(wildcard tests/test_*.c)
ifeq ($(TESTFW),harness)
  TEST_SRC += tests/harness/harness.c
  TEST_CFLAGS := -Itests/harness
  TEST_LIBS :=
  TEST_ARGS ?= --timeout 120
else
  TEST_CFLAGS :=
  TEST_LIBS := -lcriterion
  # Criterion 2.4.1 ignores its --timeout option (only .timeout inside
  # Test() works), so the run as a whole is bounded below instead.
  TEST_ARGS ?= -j2
endif
TEST_OBJ := $(patsubst %,$(B)/obj/%.o,$(TEST_SRC))
TEST_BIN := $(B)/tests/corio_tests$(EXE)

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%$(EXE),$(BENCH_SRC))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(patsubst examples/%.c,$(B)/examples/%$(EXE),$(EXAMPLE_SRC))

.PHONY: all lib test test-build check-deadlines check-alloc test-install test-valgrind test-sanitize test-windows test-aarch64 \
        test-kqueue test-tsan test-symbols bench soak examples demo install uninstall clean deps-test \
        info

all: lib
lib: $(LIB)

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/obj/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(if $(filter tests/%,$<),$(TEST_CFLAGS),$(LIB_CFLAGS)) -c $< -o $@

$(B)/obj/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# --- tests ------------------------------------------------------------
deps-test:
ifeq ($(TESTFW),criterion)
	@.ci/ensure-packages libcriterion-dev
endif

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(TEST_OBJ) $(LIB) $(TEST_LIBS) $(LDLIBS) -o $@

test-build: deps-test
	@$(MAKE) --no-print-directory $(TEST_BIN)

# The install check runs first so that Criterion's summary ends the output.
# A deadlocked test must fail the run, not hang CI: the whole suite gets
# TEST_TIMEOUT seconds (a normal run takes under a minute), then is killed.
TEST_TIMEOUT ?= 600
test: test-build check-deadlines test-symbols check-alloc $(if $(filter native,$(TARGET)),$(if $(SANITIZE),,test-install))
	@timeout -k 10 $(TEST_TIMEOUT) $(RUN) $(TEST_BIN) $(TEST_ARGS); rc=$$?; \
	  if [ $$rc = 124 ] || [ $$rc = 137 ]; then \
	    echo "corio: the test run exceeded $(TEST_TIMEOUT) s and was killed (a test hangs)" >&2; fi; \
	  exit $$rc

# The public headers follow the deadline rule (plain + _until twins, the
# deadline last); the self-test shows the check catches each violation.
check-deadlines:
	@tests/check_deadlines.sh --self-test
	@tests/check_deadlines.sh
# The prefix rule: every global symbol of the library is declared in
# include/ or named corio__ (tests/check_symbols.sh says why).
# After test-build: its sub-make builds $(LIB) too, and two makes writing
# one archive at once under -j2 race (rm -f, then "cannot find libcorio.a").
test-symbols: test-build
	@tests/check_symbols.sh $(LIB) $(NM) "$(CC) $(CPPFLAGS) -E"

# Every heap call of the library goes through coro/alloc.h, so that
# corio_replace_allocator sees it (tests/check_alloc.sh; under a second).
check-alloc:
	@tests/check_alloc.sh --self-test
	@ROOMS="$(ROOMS)" tests/check_alloc.sh

# `make install` into a scratch tree + a program built with pkg-config.
test-install: test-build
	@.ci/ensure-packages pkg-config
	@tests/install_check.sh

# libcriterion itself leaks 48 bytes at exit; only that is suppressed.
# valgrind's memcheck over a small program: clean only because every task
# stack is registered with valgrind (coro/stack.c).
test-valgrind: $(LIB)
	@.ci/ensure-packages valgrind
	@mkdir -p $(B)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) tests/valgrind_check.c $(LIB) $(LDLIBS) -o $(B)/tests/valgrind_check
	valgrind -q --error-exitcode=1 $(B)/tests/valgrind_check

# Use-after-return detection is on: it moves frames to ASan's fake stacks,
# which every task switch must announce right (coro/sched.c).
test-sanitize:
	@ASAN_OPTIONS=detect_stack_use_after_return=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  $(MAKE) --no-print-directory SANITIZE=1 test

# ThreadSanitizer over the library and the suites whose code crosses
# threads: the pool (to_thread), call_soon_threadsafe, signals, DNS,
# several loops on several threads, channels and select across loops. Criterion cannot start under TSan
# (its arena mmap fails: Snaipe/Criterion#274), so these suites run on the
# in-process harness (tests/harness), which tells TSan of its own stack
# switches. halt_on_error makes the first report fail the run;
# tests/tsan.supp lists proven false positives (each with its reason).
# process is here for its exit-watch thread. Not the whole suite: TSan
# counts each task's fiber as a thread (at most 8128 at once, about half
# a MiB each), and some suites run 10,000 tasks at once.
TSAN_SUITES ?= pool loop signal dns threads process loops server_cores chan select
TSAN_B := build/native-$(SWITCH)-$(POLLER)-tsan
test-tsan:
	@.ci/ensure-packages libtsan2
	@$(MAKE) --no-print-directory SANITIZE=thread TESTFW=harness B=$(TSAN_B) $(TSAN_B)/tests/corio_tests
	@for s in $(TSAN_SUITES); do \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    timeout -k 10 $(TEST_TIMEOUT) $(TSAN_B)/tests/corio_tests --timeout 120 --filter "$$s/*" \
	    || { echo "corio: test-tsan: suite $$s failed" >&2; exit 1; }; done

test-windows:
	@.ci/ensure-packages gcc-mingw-w64-x86-64 wine64
	@$(MAKE) --no-print-directory TARGET=windows test

test-aarch64:
	@.ci/ensure-packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
	@$(MAKE) --no-print-directory TARGET=aarch64 test

test-kqueue:
	@$(MAKE) --no-print-directory POLLER=kqueue test

# --- fault injection (tests/faults/, Linux + epoll) ----------------------
# The library built with ASan + UBSan in its own directory, then a copy of
# its archive in which every call named in FAULT_POINTS (tests/faults/
# fault.h, the one table) is renamed NAME -> __wrap_NAME: ld --wrap's
# renaming, applied to corio's objects only, so the release build is
# untouched. The driver fails each call site of six scenarios with each
# errno its call can return (docs/testing.md).
FAULT_B    := build/faults
FAULT_FNS   = $(shell sed -n 's/^ *X.\([a-z_0-9]*\),.*/\1/p' tests/faults/fault.h)
FAULT_SRC  := $(wildcard tests/faults/*.c)
FAULT_BIN  := $(FAULT_B)/fault_driver
FAULT_FLAGS := -O1 -g -std=c11 -Wall -Wextra -Werror -Iinclude -I. -D_GNU_SOURCE \
               -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined

$(FAULT_B)/libcorio_faulted.a: tests/faults/fault.h FORCE_FAULT_LIB
	@$(MAKE) --no-print-directory -s B=$(FAULT_B) SANITIZE=1 lib
	@for f in $(FAULT_FNS); do echo "$$f __wrap_$$f"; done > $(FAULT_B)/wrap.syms
	objcopy --redefine-syms=$(FAULT_B)/wrap.syms $(FAULT_B)/libcorio.a $@

$(FAULT_BIN): $(FAULT_SRC) tests/faults/fault.h tests/faults/scenarios.h $(FAULT_B)/libcorio_faulted.a
	$(CC) $(FAULT_FLAGS) -no-pie $(FAULT_SRC) $(FAULT_B)/libcorio_faulted.a -lpthread -o $@

# 25-45 s here with the build (the runs alone: fault_seconds in the summary).
test-faults: $(FAULT_BIN)
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  timeout -k 10 900 $(FAULT_BIN)

.PHONY: test-faults FORCE_FAULT_LIB soak
# --- soak (not in CI) ----------------------------------------------------
# 10,000 connections churning against a corio echo server, with DNS and
# subprocess traffic beside it, for SOAK_SECONDS (default 180); prints the
# server's descriptors, RSS, tasks and stacks once a second, then their
# growth as name=value lines (tests/soak/soak.c). Linux only (/proc).
SOAK_SECONDS ?= 180
SOAK_CONNS ?= 10000
$(B)/tests/soak$(EXE): tests/soak/soak.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

soak: $(B)/tests/soak$(EXE)
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CONNS=$(SOAK_CONNS) $(RUN) $(B)/tests/soak$(EXE)
# --- fuzzing ------------------------------------------------------------
# libFuzzer targets, tests/fuzz/fuzz_*.c (docs/testing.md, "Fuzzing"). The
# library is built with clang in its own directory, instrumented for the
# fuzzer and under ASan + UBSan; each target runs FUZZ_SECONDS from the
# seeds in tests/fuzz/corpus/<target>/ and fails the run on a crash, a
# sanitizer report or a model mismatch. New inputs libFuzzer finds go to
# build/fuzz/corpus/<target>/, crashes to build/fuzz/crash-<target>-*.
#   make fuzz FUZZ_TARGETS=stream FUZZ_SECONDS=600     one target, longer
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_B       := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(patsubst %,$(FUZZ_B)/fuzz_%,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build
fuzz-build:
	@.ci/ensure-packages clang-14 libclang-rt-14-dev
	@CFLAGS='-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link' \
	  $(MAKE) --no-print-directory CC=$(FUZZ_CC) B=$(FUZZ_B) SANITIZE= lib
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

# fuzz_cmdline and fuzz_path test pure sections of os/process_win.c and
# os/process_posix.c: each is copied out verbatim, from its banner comment
# ("/* NAME ... */") to the next banner.
fuzz_section = awk -v a='$(2)' 'on && prev ~ /^\/\* ---/ && /^\/\* [^-]/ {exit} \
	  on {print} {prev = $$0} index($$0, "/* " a) == 1 {on = 1}' $(1) | sed '$$d' > $@; \
	grep -q '$(3)' $@ || { echo "corio: no section \"$(2)\" in $(1)" >&2; rm -f $@; exit 1; }
$(FUZZ_B)/cmdline_win.inc: os/process_win.c
	@mkdir -p $(dir $@)
	@$(call fuzz_section,$<,UTF-8 -> UTF-16,environment_block)
$(FUZZ_B)/path_posix.inc: os/process_posix.c
	@mkdir -p $(dir $@)
	@$(call fuzz_section,$<,PATH search,exec_candidates)

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_B)/libcorio.a \
                  $(FUZZ_B)/cmdline_win.inc $(FUZZ_B)/path_posix.inc
	$(FUZZ_CC) -O1 -g -std=c11 -Wall -Wextra -Werror -Iinclude -I. -I$(FUZZ_B) -D_GNU_SOURCE \
	  -DCORIO_POLLER_epoll $(FUZZ_SAN) -fsanitize=fuzzer $< $(FUZZ_B)/libcorio.a \
	  -lpthread -o $@

# One input may take 10 s at most (a hang is a failure too); the whole run
# of a target is bounded as well, in case libFuzzer itself cannot stop it.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_B)/corpus/$$t; \
	  echo "==== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  timeout -k 10 $$(( $(FUZZ_SECONDS) + 120 )) \
	    $(FUZZ_B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_B)/crash-$$t- \
	    $(FUZZ_B)/corpus/$$t tests/fuzz/corpus/$$t 2>$(FUZZ_B)/fuzz_$$t.log; \
	  rc=$$?; grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss)' \
	    $(FUZZ_B)/fuzz_$$t.log; \
	  if [ $$rc != 0 ]; then tail -n 40 $(FUZZ_B)/fuzz_$$t.log; \
	    art=$$(sed -n 's/.*Test unit written to //p' $(FUZZ_B)/fuzz_$$t.log | tail -n 1); \
	    echo "corio: fuzz_$$t failed (exit $$rc); replay: $(FUZZ_B)/fuzz_$$t $${art:-<input>}" >&2; \
	    exit 1; fi; \
	done

# --- benchmarks and examples -------------------------------------------
$(B)/bench/%$(EXE): bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(B)/examples/%$(EXE): examples/%.c $(wildcard examples/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# Every benchmark of this build, then the switch of every other build that
# runs natively here (the ucontext fallback). AArch64 under qemu is a
# correctness check only: emulated times are not reported.
bench: $(BENCH_BIN)
ifeq ($(TARGET),native)
	@.ci/ensure-packages golang-go || echo "# go not installed: bench_echo skips its Go peer"
	@.ci/ensure-packages libboost-context-dev || echo "# Boost.Context not installed: no fcontext peer"
endif
	@for b in $(BENCH_BIN); do $(RUN) $$b || exit 1; done
ifeq ($(TARGET),native)
	@if $(CC) -O2 bench/peers/fcontext_switch.c -lboost_context \
	        -o $(B)/bench/fcontext_switch 2>/dev/null; then \
	    echo "# peer: Boost.Context fcontext, the same ping-pong"; \
	    $(B)/bench/fcontext_switch; \
	else echo "# fcontext peer skipped: cannot link -lboost_context"; fi
endif
ifeq ($(TARGET)-$(SWITCH),native-asm)
	@$(MAKE) --no-print-directory SWITCH=ucontext build/native-ucontext-epoll/bench/bench_core >/dev/null
	@build/native-ucontext-epoll/bench/bench_core --switch-only
endif

examples: $(EXAMPLE_BIN)

demo: $(B)/examples/demo$(EXE) $(B)/examples/echo_demo$(EXE)
	$(RUN) $(B)/examples/demo$(EXE)
	$(RUN) $(B)/examples/echo_demo$(EXE)

# --- install ------------------------------------------------------------
install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/corio.h $(DESTDIR)$(PREFIX)/include/corio.h
	install -m 644 include/corio_inline.h $(DESTDIR)$(PREFIX)/include/corio_inline.h
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libcorio.a
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBS@|$(LDLIBS)|g' corio.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/corio.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/corio.h $(DESTDIR)$(PREFIX)/include/corio_inline.h \
	      $(DESTDIR)$(PREFIX)/lib/libcorio.a \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/corio.pc

info:
	@echo "target=$(TARGET) switch=$(SWITCH_SRC) poller=$(POLLER_SRC) build=$(B)"

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
