# Thin wrapper over meson: `make demo` and `make test` are the README's two
# commands. Both first install whatever Debian packages are missing.
BUILD     ?= build
SAN_BUILD ?= build-san
DEMO_DIR  ?= $(BUILD)/demo

PKGS := gcc meson ninja-build pkg-config libopenblas-dev libzstd-dev libjansson-dev \
        libyaml-dev libxxhash-dev zstd clang libclang-rt-14-dev python3 python3-numpy bc time
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build demo test bench clean

all: build

deps:
	@missing=""; \
	for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

$(SAN_BUILD)/build.ninja:
	meson setup $(SAN_BUILD) --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	rm -rf $(DEMO_DIR)
	$(BUILD)/moekit synth $(DEMO_DIR)/bf16 --arch deepseek-v3
	$(BUILD)/moekit inspect $(DEMO_DIR)/bf16
	$(BUILD)/moekit convert $(DEMO_DIR)/bf16 $(DEMO_DIR)/fp8 --scheme fp8-block
	$(BUILD)/moekit verify $(DEMO_DIR)/fp8
	$(BUILD)/moekit validate $(DEMO_DIR)/bf16 $(DEMO_DIR)/fp8 --report $(DEMO_DIR)/report.html
	$(BUILD)/moekit plan deepseek-v3 --gpu h100
	$(BUILD)/moekit plan deepseek-v3 --gpu h200

test: build $(SAN_BUILD)/build.ninja
	ninja -C $(SAN_BUILD)
	tests/run.sh $(BUILD) $(SAN_BUILD)

bench: build
	ninja -C $(BUILD) bench_index bench_kernels bench_dryrun bench_moe
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
