# agentd: one non-recursive GNU Makefile for the daemon, its client, the
# inference engine, the tests and the benchmarks.
#
#   make            build build/agentd, build/agentctl, build/agentd-infer
#   make check      build and run every test (SAN=1: under ASan+UBSan)
#   make demo       start the daemon on a temporary socket and use it
#   make bench      load-generate against the daemon beside redis-server
#   make model      train the bundled model (scripts/train-model)
#   make eval       compare the strategies on the bundled model
#   make install    install into $(DESTDIR)$(PREFIX) (binaries, units, man
#                   pages, default config, bundled data)
#   make deps       install the missing Debian 12 packages
#   make format     reformat the C sources; format-check only checks
#   make clean      remove build/
#
# Objects live under build/obj (build/san/obj with SAN=1), so the two
# variants never mix.  A flags stamp rebuilds everything when flags change.

PKG_CONFIG ?= pkg-config
CC         ?= gcc
PREFIX     ?= /usr/local
DESTDIR    ?=
SAN        ?= 0
WERROR     ?= 1
PYTHON     ?= /usr/bin/python3

PC_LIBS := libevent libevent_pthreads jansson lua5.4 libcurl openssl \
    libsystemd libpcre2-8
PC_TEST := cmocka

# O= puts the whole build elsewhere (default build/).
O ?= build
ifeq ($(SAN),1)
OUT := $(O)/san
else
OUT := $(O)
endif
OBJ := $(OUT)/obj

# Goals that compile something first install what is missing, so that a
# fresh Debian 12 machine needs nothing but `make check` or `make demo`.
BUILD_GOALS := $(filter-out clean deps format format-check help, \
    $(or $(MAKECMDGOALS),all))
ifneq ($(BUILD_GOALS),)
ifneq ($(AGENTD_SKIP_DEPS),1)
# check and model also need the offline tooling (python3-torch): the
# model pipeline's tests train a tiny model.
DEPS_ARGS := $(if $(filter check model,$(BUILD_GOALS)),--with-tooling)
DEPS_RC := $(shell scripts/install-deps $(DEPS_ARGS) >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error scripts/install-deps failed (exit $(DEPS_RC)); see above)
endif
export AGENTD_SKIP_DEPS := 1
endif
endif

WARN := -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
    -Wmissing-declarations -Wold-style-definition -Wwrite-strings -Wshadow \
    -Wpointer-arith -Wundef -Wbad-function-cast -Wcast-qual -Wvla \
    -Wimplicit-fallthrough -fno-common
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(SAN),1)
OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer
else
OPT := -O2 -g -D_FORTIFY_SOURCE=2
endif

PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PC_LIBS) $(PC_TEST) 2>/dev/null)
PC_LDLIBS := $(shell $(PKG_CONFIG) --libs $(PC_LIBS) 2>/dev/null)
TEST_LDLIBS := $(shell $(PKG_CONFIG) --libs $(PC_TEST) 2>/dev/null)

VERSION := 0.1.0
CPPFLAGS += -iquote . -D_GNU_SOURCE -DAGENTD_VERSION='"$(VERSION)"' \
    $(PC_CFLAGS)
CFLAGS   += -std=c11 $(OPT) $(WARN) -fstack-protector-strong
LDFLAGS  += -Wl,-z,relro,-z,now $(filter -fsanitize=%,$(OPT))
LDLIBS   += $(PC_LDLIBS) -ldl -lpthread -lm
PIE      := -fPIE
PIC      := -fPIC

# SIMD kernels are compiled per file and chosen at run time.
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl \
    -mavx512dq -mavx512vnni -mavx512bf16

# ---- sources, one list per module -------------------------------------

# daemon/: agentd.c is the daemon's main, agentctl.c and ctl-*.c the
# client; everything else is the daemon library (paths-*.c are the two
# build-time data directories, linked into exactly one binary each).
DAEMON_MAIN  := daemon/agentd.c
CTL_SRC      := $(wildcard daemon/agentctl.c daemon/ctl-*.c)
DAEMON_SRC   := $(filter-out $(DAEMON_MAIN) $(CTL_SRC) daemon/paths.c, \
    $(wildcard daemon/*.c))
AGENT_SRC    := $(wildcard agent/*.c)
PLUG_SRC     := $(wildcard plugins/*.c)
SCRIPT_SRC   := $(wildcard lua/*.c)
INFER_CLI    := $(wildcard inference/cli*.c)
INFER_SRC    := $(filter-out $(INFER_CLI), $(wildcard inference/*.c))

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))

LIB_DAEMON := $(OUT)/libagentd-daemon.a
LIB_AGENT  := $(OUT)/libagentd-agent.a
LIB_PLUG   := $(OUT)/libagentd-plugins.a
LIB_SCRIPT := $(OUT)/libagentd-lua.a
LIB_INFER  := $(OUT)/libagentd-inference.a
LIBS := $(if $(DAEMON_SRC),$(LIB_DAEMON)) $(if $(AGENT_SRC),$(LIB_AGENT)) \
    $(if $(PLUG_SRC),$(LIB_PLUG)) $(if $(SCRIPT_SRC),$(LIB_SCRIPT)) \
    $(if $(INFER_SRC),$(LIB_INFER))
LINK_LIBS = -Wl,--start-group $(LIBS) -Wl,--end-group

BINS := $(OUT)/agentd $(OUT)/agentctl $(if $(INFER_CLI),$(OUT)/agentd-infer)

# Example and test plugins: one shared object per .c file.
PLUGIN_EXAMPLES := $(patsubst plugins/examples/%.c,$(OUT)/plugins/%.so, \
    $(wildcard plugins/examples/*.c))
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(OUT)/tests/plugins/%.so, \
    $(wildcard tests/plugins/*.c))

# Tests: tests/unit/test-*.c and tests/integration/test-*.c are one cmocka
# binary each; tests/common/*.c are helpers linked into all of them;
# tests/*/test-*.sh are scripts run against the built binaries.
TEST_COMMON := $(wildcard tests/common/*.c)
UNIT_TESTS  := $(patsubst tests/%.c,$(OUT)/tests/%, \
    $(wildcard tests/unit/test-*.c tests/reference/test-*.c))
INTEG_TESTS := $(patsubst tests/%.c,$(OUT)/tests/%, \
    $(wildcard tests/integration/test-*.c))
TEST_SCRIPTS := $(sort $(wildcard tests/*/test-*.sh))
TEST_TOOLS  := $(patsubst tests/tools/%.c,$(OUT)/tests/tools/%, \
    $(wildcard tests/tools/*.c))

# Benchmarks: scripts/bench/*.c are stand-alone programs.
BENCH_TOOLS := $(patsubst scripts/bench/%.c,$(OUT)/bench/%, \
    $(wildcard scripts/bench/*.c))

# ---- goals ---------------------------------------------------------------

.PHONY: all check demo bench install deps format format-check clean help \
    headers FORCE
.DEFAULT_GOAL := all

# all: the daemon, the client and the engine's tool.
all: $(BINS) $(PLUGIN_EXAMPLES)

# deps: install missing Debian 12 packages (needs root, or says why).
deps:
	scripts/install-deps --with-tooling

# check: build everything, then run every test once.  SAN=1 runs the
# same suite under ASan+UBSan.
check: all $(OUT)/install/agentd $(UNIT_TESTS) $(INTEG_TESTS) \
    $(TEST_PLUGINS) $(TEST_TOOLS) $(BENCH_TOOLS) headers
	@OUT=$(OUT) SAN=$(SAN) tests/run $(UNIT_TESTS) $(INTEG_TESTS) \
	    $(TEST_SCRIPTS)

# demo: the main job, end to end, on a temporary socket.
demo: all
	@OUT=$(OUT) scripts/demo

# eval: the strategies on the bundled model's held-out set, side by side
# (scripts/eval-model; EVAL_LIMIT=N takes N items per family).
.PHONY: eval
eval: all
	@OUT=$(OUT) scripts/eval-model

# bench: requests/s and latency of daemon.ping beside redis-server.
bench: all $(BENCH_TOOLS)
	@OUT=$(OUT) scripts/bench/run-bench

# bench-infer: the engine's prefill and decode tokens/s on a realistic-size
# random MoE (generated into $(OUT)/bench-models the first time), beside
# the decode bound that the measured read bandwidth sets.
.PHONY: bench-infer
bench-infer: $(OUT)/agentd-infer $(OUT)/bench/membw
	@OUT=$(OUT) scripts/bench/bench-infer
# membw only reads memory: it links none of the module libraries.
$(OUT)/bench/membw: $(OBJ)/scripts/bench/membw.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -pie -o $@ $^ -lpthread

# model: retrain the bundled model from scratch (models/README.md):
# generate -> tokenizer -> train -> export -> quantize, about two hours on
# two cores; CI does not retrain.  MODEL_ARGS=--resume continues.
.PHONY: model
model: $(if $(INFER_CLI),$(OUT)/agentd-infer) $(OUT)/tests/tools/model-tools
	@OUT=$(OUT) PYTHON=$(PYTHON) scripts/train-model $(MODEL_ARGS)

# headers: each public header compiles on its own.
HEADERS := $(filter-out %-int.h,$(wildcard daemon/*.h agent/*.h \
    plugins/*.h plugins/agentd/*.h lua/*.h inference/*.h))
headers: $(patsubst %.h,$(OBJ)/headers/%.ok,$(HEADERS))
$(OBJ)/headers/%.ok: %.h $(OBJ)/.flags
	@mkdir -p $(@D)
	@echo '#include "$<"' | $(CC) $(CPPFLAGS) $(CFLAGS) -x c -c \
	    -o /dev/null - && touch $@

# format: clang-format 14 (Debian 12) over every tracked C file.
format:
	git ls-files '*.[ch]' | xargs -r clang-format -i
format-check:
	git ls-files '*.[ch]' | xargs -r clang-format --dry-run -Werror

clean:
	rm -rf $(O)

help:
	@sed -n '2,18p' Makefile

# ---- fuzz ----------------------------------------------------------------

# fuzz: build the libFuzzer harnesses (clang), one per parser, into
# $(OUT)/fuzz/.  Each tests/fuzz/fuzz-NAME.c is compiled together with
# the sources listed in FUZZ_SRC_fuzz-NAME (instrumented) and linked with
# the objects and libraries in FUZZ_LIB_fuzz-NAME (built by `make`, not
# instrumented; for what the parsers call).  Run one with its dictionary
# and seeds, for example:
#   build/fuzz/fuzz-gguf -dict=tests/fuzz/gguf.dict -max_total_time=60 \
#       CORPUS_DIR tests/fixtures/gguf/seeds
FUZZ_CC     ?= clang
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=all -fno-omit-frame-pointer $(WARN)
FUZZ_NAMES  := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_SRC_fuzz-gguf := inference/gguf.c inference/types.c
FUZZ_SRC_fuzz-tokenizer := inference/tokenizer.c
.PHONY: fuzz
fuzz: $(patsubst %,$(OUT)/fuzz/%,$(FUZZ_NAMES))
FUZZ_SRC_fuzz-framing := daemon/framing.c daemon/util.c
FUZZ_SRC_fuzz-jsonrpc := daemon/jsonrpc.c daemon/request.c daemon/queue.c \
    daemon/rpc.c daemon/util.c
FUZZ_LIB_fuzz-jsonrpc := $(OBJ)/daemon/paths-local.o $(LIBS)
FUZZ_SRC_fuzz-transcript := agent/transcript.c daemon/util.c
$(foreach h,$(FUZZ_NAMES),$(eval $(OUT)/fuzz/$(h): $(FUZZ_SRC_$(h)) \
    $(FUZZ_LIB_$(h))))
$(OUT)/fuzz/%: tests/fuzz/%.c $(OBJ)/.flags
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC_$*) \
	    -Wl,--start-group $(FUZZ_LIB_$*) -Wl,--end-group $(LDLIBS)

# ---- install -------------------------------------------------------------

BINDIR   := $(PREFIX)/bin
SBINDIR  := $(PREFIX)/sbin
DATADIR  := $(PREFIX)/share/agentd
MANDIR   := $(PREFIX)/share/man
LIBDIR   := $(PREFIX)/lib
SYSCONF  := /etc/agentd
UNITDIR  := $(LIBDIR)/systemd/system
SYSUSERS := $(LIBDIR)/sysusers.d
TMPFILES := $(LIBDIR)/tmpfiles.d

install: $(OUT)/install/agentd $(OUT)/agentctl $(PLUGIN_EXAMPLES) \
    $(if $(INFER_CLI),$(OUT)/agentd-infer)
	@OUT=$(OUT) DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' \
	    scripts/install-files

# ---- rules ---------------------------------------------------------------

# Rebuild everything when the compiler or flags change.
$(OBJ)/.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(PREFIX)' | \
	    cmp -s - $@ || \
	    echo '$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(PREFIX)' > $@
FORCE:

$(OBJ)/%.o: %.c $(OBJ)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIE) $(EXTRA_$(notdir $*)) -MMD -MP \
	    -c $< -o $@

$(OBJ)/%-avx2.o: CFLAGS += $(AVX2_FLAGS)
$(OBJ)/%-avx512.o: CFLAGS += $(AVX512_FLAGS)

# The data directory is fixed at build time: the source tree for the
# binaries in build/, $(PREFIX)/share/agentd for those `make install`
# installs.  daemon/paths.c is compiled once for each.
$(OBJ)/daemon/paths-local.o: daemon/paths.c $(OBJ)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIE) -MMD -MP \
	    -DAGENTD_DATADIR='"$(CURDIR)"' \
	    -DAGENTD_PLUGINDIR='"$(abspath $(OUT))/plugins"' -c $< -o $@
$(OBJ)/daemon/paths-install.o: daemon/paths.c $(OBJ)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIE) -MMD -MP \
	    -DAGENTD_DATADIR='"$(DATADIR)"' \
	    -DAGENTD_PLUGINDIR='"$(LIBDIR)/agentd/plugins"' -c $< -o $@

$(LIB_DAEMON): $(call objs,$(DAEMON_SRC))
$(LIB_AGENT): $(call objs,$(AGENT_SRC))
$(LIB_PLUG): $(call objs,$(PLUG_SRC))
$(LIB_SCRIPT): $(call objs,$(SCRIPT_SRC))
$(LIB_INFER): $(call objs,$(INFER_SRC))
$(OUT)/lib%.a:
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(OUT)/agentd: $(call objs,$(DAEMON_MAIN)) $(OBJ)/daemon/paths-local.o \
    $(LIBS)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS) \
	    -rdynamic
$(OUT)/install/agentd: $(call objs,$(DAEMON_MAIN)) \
    $(OBJ)/daemon/paths-install.o $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS) \
	    -rdynamic
$(OUT)/agentctl: $(call objs,$(CTL_SRC)) $(OBJ)/daemon/paths-local.o $(LIBS)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS)
$(OUT)/agentd-infer: $(call objs,$(INFER_CLI)) $(LIB_INFER)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LIB_INFER) $(LDLIBS)

# Plugins are position-independent shared objects with hidden symbols
# but the one entry point.
$(OUT)/plugins/%.so: plugins/examples/%.c $(OBJ)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIC) -fvisibility=hidden -shared \
	    $(LDFLAGS) -o $@ $<
$(OUT)/tests/plugins/%.so: tests/plugins/%.c $(OBJ)/.flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIC) -fvisibility=hidden -shared \
	    $(LDFLAGS) -o $@ $<

$(OUT)/tests/%: $(OBJ)/tests/%.o $(call objs,$(TEST_COMMON)) \
    $(OBJ)/daemon/paths-local.o $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS) \
	    $(TEST_LDLIBS) -rdynamic

# The engine's own tests link only the engine (it knows nothing above it).
$(OUT)/tests/unit/test-infer%: $(OBJ)/tests/unit/test-infer%.o $(LIB_INFER)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LIB_INFER) $(LDLIBS) \
	    $(TEST_LDLIBS)
$(OUT)/tests/reference/test-%: $(OBJ)/tests/reference/test-%.o $(LIB_INFER)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LIB_INFER) $(LDLIBS) \
	    $(TEST_LDLIBS)

$(OUT)/bench/%: $(OBJ)/scripts/bench/%.o $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -pie -o $@ $(filter %.o,$^) $(LINK_LIBS) $(LDLIBS)

.SECONDARY:

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
