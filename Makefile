# Thin wrapper over CMake. `make` builds build/pgvolley and libvolley;
# `make check` runs every test (also under ASan+UBSan); `make demo` runs the
# demo on a throwaway server; `make bench` compares with pgbench.
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
BUILD  ?= build
ASAN   ?= build-asan
CMAKE  ?= cmake

.PHONY: all deps build asan check check-fast check-build demo bench profile format format-check lint clean

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

# Every test, in the normal build and in the sanitizer build.
check: build asan format-check lint
	cd $(BUILD) && ctest --output-on-failure -j 2
	cd $(ASAN) && ctest --output-on-failure -j 2

# Only the normal build (quicker while developing).
check-fast: build
	cd $(BUILD) && ctest --output-on-failure -j 2

# Only the build checks (layering of includes and links, each source
# compiled once; tests/layering/): quick after moving code between areas.
check-build: build
	cd $(BUILD) && ctest --output-on-failure -L build

demo: build
	./$(BUILD)/pgvolley demo

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
	rm -rf $(BUILD) $(ASAN)
