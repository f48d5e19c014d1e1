# Thin wrapper over CMake. `make` builds build/pgvolley and libvolley;
# `make check` runs every test (the unit and integration ones also under
# ASan+UBSan; `make check-asan-all`: all of them there); `make demo` runs the
# demo on a throwaway server; `make bench` compares with pgbench.
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
BUILD  ?= build
ASAN   ?= build-asan
CMAKE  ?= cmake

.PHONY: all deps build asan check check-asan-all check-fast check-build demo bench profile format format-check lint clean \
	fuzz fuzz-build fuzz-check

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

$(ASAN)/CMakeCache.txt: | deps
	$(CMAKE) -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DPV_SANITIZE=ON

asan: deps $(ASAN)/CMakeCache.txt
	$(CMAKE) --build $(ASAN) -j $(JOBS)

# Every test in the normal build; in the sanitizer build every test that
# runs our C code (unit and integration), then each fuzz target for a short
# fixed time. The sanitizer build leaves out what would only repeat work
# outside our C code: the build checks (label build: the same sources and
# link lines), the browser tests (Chromium's work; the pages are written by
# report code the integration tests run) and the end-to-end MCP clients
# (Node.js's work; test_mcp_* drive the same server paths); `make
# check-asan-all` runs them too. Four tests at a time on 2 cores: most of a
# test's time is spent waiting on a server or a sleep, and the tests that
# time a fault or a stall run alone (RUN_SERIAL in CMakeLists.txt).
CHECK_JOBS ?= 4
ASAN_ONLY_ONCE := build|browser|e2e
check: build asan format-check lint
	cd $(BUILD) && ctest --output-on-failure -j $(CHECK_JOBS)
	cd $(ASAN) && ctest --output-on-failure -j $(CHECK_JOBS) -LE '^($(ASAN_ONLY_ONCE))$$'
	$(MAKE) --no-print-directory fuzz-check

# Every test in the sanitizer build, those above included.
check-asan-all: asan
	cd $(ASAN) && ctest --output-on-failure -j $(CHECK_JOBS)

# Only the normal build (quicker while developing).
check-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(CHECK_JOBS)

# Only the build checks (layering of includes and links, each source
# compiled once; tests/layering/): quick after moving code between areas.
check-build: build
	cd $(BUILD) && ctest --output-on-failure -L build

demo: build
	./$(BUILD)/pgvolley demo --html $(BUILD)/demo-suite.html

bench: build
	bench/run.sh $(BUILD)/pgvolley

profile: build
	bench/profile.sh $(BUILD)/pgvolley

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@bad=$$(for f in $$(git ls-files '*.c' '*.h'); do \
	    clang-format --dry-run -Werror $$f >/dev/null 2>&1 || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "not clang-formatted (run make format):" $$bad; exit 1; fi

# Banned functions (STYLE.md): unbounded or error-swallowing libc calls.
lint:
	@if git grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|gets)[[:space:]]*\(' -- src include tests/unit; \
	then echo "banned function used (see docs/STYLE.md)"; exit 1; fi
	@# One connection core: only src/engine/pv_conn.c connects, reads input and cancels.
	@core=$$(git grep -lE '\b(PQconnect[A-Za-z]*|PQconsumeInput|PQ[a-zA-Z]*[cC]ancel[A-Za-z]*)[[:space:]]*\(' -- 'src/*.c'); \
	if [ "$$core" != "src/engine/pv_conn.c" ]; then \
	    echo "libpq connect/consume/cancel calls outside src/engine/pv_conn.c:" $$core; exit 1; fi

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ_BUILD)

# ---- fuzzing (tests/fuzz/) --------------------------------------------------
# libFuzzer targets, built with clang (-fsanitize=fuzzer,address,undefined)
# in $(FUZZ_BUILD), apart from the gcc builds: each source once into
# $(FUZZ_BUILD)/obj/, each target linked from the areas it needs.
# `make fuzz` runs every target for FUZZ_SECONDS; `make check` for
# FUZZ_CHECK_SECONDS, two at a time. Each run starts from the committed seeds
# (tests/fuzz/corpus/<target>/) and what earlier runs found
# ($(FUZZ_BUILD)/corpus/<target>/); a crash fails with the reproducer's path.
FUZZ_BUILD         ?= build-fuzz
FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 60
FUZZ_CHECK_SECONDS ?= 8
FUZZ_TARGETS       := workload params datasets jsonrpc mcp guard shape hist
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) \
	-Wall -Wextra -Werror -Wno-unused-command-line-argument \
	-D_GNU_SOURCE -DPV_VERSION='"fuzz"' -DPV_SOURCE_DIR='"$(CURDIR)"' \
	-Iinclude -Isrc $(shell pkg-config --cflags-only-I libpq 2>/dev/null)
FUZZ_LIBS   := -lpg_query -ljansson -linih -lpq -luv -lmicrohttpd -lpthread -lm

fuzz_src = $(foreach a,$(1),$(wildcard src/$(a)/*.c))
# The sources each target links (whole areas, or single files of one).
FUZZ_SRCS_workload := $(call fuzz_src,common workload)
FUZZ_SRCS_params   := $(FUZZ_SRCS_workload)
FUZZ_SRCS_datasets := $(call fuzz_src,common) src/multi/pv_datasets.c src/engine/pv_conninfo.c
FUZZ_SRCS_jsonrpc  := $(call fuzz_src,common) src/mcp/pv_jsonrpc.c
FUZZ_SRCS_shape    := $(call fuzz_src,common) src/engine/pv_shape.c
FUZZ_SRCS_hist     := $(call fuzz_src,common stats)
FUZZ_SRCS_guard    := $(call fuzz_src,common workload stats guard)
FUZZ_SRCS_mcp      := $(call fuzz_src,common workload stats engine guard multi report mcp)

fuzz_obj = $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(1))
FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))

# Intermediate objects are kept (they are shared by the targets).
.PRECIOUS: $(FUZZ_BUILD)/obj/%.o $(FUZZ_BUILD)/harness/%.o

$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	@echo "fuzz CC $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/harness/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	@echo "fuzz CC $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

.SECONDEXPANSION:
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/harness/fuzz_%.o $$(call fuzz_obj,$$(FUZZ_SRCS_$$*))
	@echo "fuzz LD $@"
	@$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ $(FUZZ_LIBS) -o $@

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

fuzz-build: deps
	@$(MAKE) --no-print-directory -j $(JOBS) $(FUZZ_BINS)

fuzz-run-%: $(FUZZ_BUILD)/fuzz_%
	@tests/fuzz/run.sh $(FUZZ_BUILD) $* $(FUZZ_SECONDS)

fuzz: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_SECONDS) || fail=1; done; exit $$fail

fuzz-check: fuzz-build
	@$(MAKE) --no-print-directory -j 2 FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) \
	    $(addprefix fuzz-run-,$(FUZZ_TARGETS))
