# SPDX-License-Identifier: MIT
# Front door: `make` builds build/ward; `make demo` and `make check` also
# install what is missing (Debian 12, as root).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps demo check check-kernels vm unit integration asan clean bench fuzz docs

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

deps:
	@./tools/install-deps.sh

demo: deps build
	@./tools/demo.sh $(BUILD)/ward

check: deps build
	@./tools/fuzz-smoke.sh
	@cd $(BUILD) && ctest --output-on-failure --timeout 600 -j1

# the guest kernel's tests alone (tests/vm, docs/kernels.md)
vm: build
	@cd $(BUILD) && ctest --output-on-failure -L vm

# the whole integration suite inside the guest kernel (tests/vm/check-kernels.sh)
check-kernels: deps build
	@WARD_BUILD=$(CURDIR)/$(BUILD) ./tests/vm/check-kernels.sh

unit: build
	@cd $(BUILD) && ctest --output-on-failure -L unit

integration: build
	@cd $(BUILD) && ctest --output-on-failure -L integration

asan:
	@$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DWARD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" check

bench: build
	@for b in tools/bench/*.sh; do echo "== $$b"; WARD=$(CURDIR)/$(BUILD)/ward BUILD=$(BUILD) bash $$b || exit 1; done

fuzz:
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-60} ./tools/fuzz-smoke.sh

# contrib/ward.1 and contrib/completions/ from the --help texts (tools/gen-docs.sh)
docs: build
	@cmake --build $(BUILD) --target docs

clean:
	rm -rf $(BUILD) build-asan build-fuzz
