# podshim — build, test, e2e, lint, install.
# `make e2e` and `make test` set up what they need (system packages through
# hack/deps.sh, sample rootfs through hack/) on a fresh Debian machine.

CARGO        ?= cargo
PREFIX       ?= /usr/local
HOST_TARGET  := x86_64-unknown-linux-gnu
RELEASE_DIR  := target/$(HOST_TARGET)/release
PODPROBE     := $(RELEASE_DIR)/podprobe
# Release binaries are static and not position independent: no dynamic
# loader at every re-exec (pause, init, exec), and no relocated pages, so
# the code is shared clean between every pod's shim and pause.
STATIC_FLAGS := -C target-feature=+crt-static -C relocation-model=static
TEST_ROOTFS  := build/test-rootfs
TEST_IMAGE   := build/test-image.tar

.PHONY: all build build-debug deps podprobe rootfs unit test test-node containerd-versions e2e bench bench-quick lint fuzz install uninstall clean

all: build

deps:
	@bash hack/deps.sh

build:
	RUSTFLAGS="$(STATIC_FLAGS)" $(CARGO) build --release --target $(HOST_TARGET) -p podshim -p podctl -p podprobe

build-debug:
	$(CARGO) build --workspace --exclude podprobe

# podprobe goes into container rootfs, so it is linked statically.
podprobe:
	RUSTFLAGS="$(STATIC_FLAGS)" $(CARGO) build --release --target $(HOST_TARGET) -p podprobe

rootfs: deps podprobe
	bash hack/bundles-rootfs.sh $(PODPROBE)
	bash hack/mkrootfs.sh $(TEST_ROOTFS) $(PODPROBE)
	bash hack/mkimage.sh $(TEST_ROOTFS) docker.io/podshim/test:1 $(TEST_IMAGE)

# Every unit test (types, state, sys, shim, podctl, podprobe): no root, no
# rootfs, no containerd; seconds once built.
unit:
	$(CARGO) test --workspace --exclude podshim-tests

# Unit tests and the root integration tests (tests/). Must run as root.
# The containerd and CRI tests run again against containerd 1.7 and 2.x
# (Debian stable and unstable, unpacked under build/containerd/).
CONTAINERD_SUITES := stable unstable
TEST_ENV = PODSHIM_BIN_DIR=$(CURDIR)/target/debug PODSHIM_TEST_ROOTFS=$(CURDIR)/$(TEST_ROOTFS) \
	PODSHIM_TEST_IMAGE=$(CURDIR)/$(TEST_IMAGE)
test: deps build-debug rootfs containerd-versions
	$(TEST_ENV) $(CARGO) test --workspace
	for suite in $(CONTAINERD_SUITES); do \
		echo "== containerd $$suite: $$(build/containerd/$$suite/usr/bin/containerd --version)"; \
		PODSHIM_CONTAINERD_BIN=$(CURDIR)/build/containerd/$$suite/usr/bin $(TEST_ENV) \
			$(CARGO) test -p podshim-tests --test containerd --test cri --test cri_options || exit 1; \
	done

containerd-versions:
	bash hack/containerd-versions.sh $(CONTAINERD_SUITES)

# The node tests (hack/node/): the integration tests that matter on a
# Kubernetes node, in a Debian 12 and a Debian 13 VM (systemd as init,
# cgroup v2 only, the distribution's containerd and runc), booted under
# software emulation with the repository shared by 9p. The images are
# built with mmdebstrap and cached under build/node/.
NODE_FLAVOURS := bookworm trixie
NODE_DEPS := mmdebstrap qemu-system-x86 e2fsprogs
test-node: deps build rootfs containerd-versions
	bash hack/deps.sh $(NODE_DEPS)
	bash hack/node/run.sh $(NODE_FLAVOURS)

# Runs every sample pod in bundles/ with the release binaries and checks it.
e2e: deps build rootfs
	bash hack/e2e.sh $(CURDIR)/$(RELEASE_DIR)

# Side by side with runc, crun and containerd-shim-runc-v2 (hack/bench.sh):
# bench/results/<date>.md and .svg. bench-quick is the short version.
BENCH_DEPS := hyperfine jq bc runc crun gcc
bench: deps build rootfs containerd-versions
	bash hack/deps.sh $(BENCH_DEPS)
	bash hack/bench.sh $(CURDIR)/$(RELEASE_DIR) $(CURDIR)/$(TEST_ROOTFS) $(CURDIR)/bench/results

bench-quick: deps build rootfs containerd-versions
	bash hack/deps.sh $(BENCH_DEPS)
	bash hack/bench.sh --quick $(CURDIR)/$(RELEASE_DIR) $(CURDIR)/$(TEST_ROOTFS) $(CURDIR)/bench/results

# rustfmt, clippy (warnings are errors) and cargo-deny (deny.toml: licenses,
# sources, and tokio only where it belongs).
lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --bins -- -D warnings
	@command -v cargo-deny >/dev/null || $(CARGO) install cargo-deny --locked
	$(CARGO) deny check licenses sources bans

# Fuzzing (cargo-fuzz, libFuzzer on nightly): each target for FUZZ_SECONDS,
# starting from the corpus kept in fuzz/corpus.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := spec state channel
fuzz: deps
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

install: build
	install -D -m 0755 $(RELEASE_DIR)/podshim $(DESTDIR)$(PREFIX)/bin/podshim
	install -D -m 0755 $(RELEASE_DIR)/podctl $(DESTDIR)$(PREFIX)/bin/podctl
	ln -sf podshim $(DESTDIR)$(PREFIX)/bin/containerd-shim-podshim-v1
	test -e $(DESTDIR)/etc/podctl/cni/net.d/10-podctl.conflist || \
		install -D -m 0644 hack/cni/10-podctl.conflist $(DESTDIR)/etc/podctl/cni/net.d/10-podctl.conflist

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/podshim $(DESTDIR)$(PREFIX)/bin/podctl $(DESTDIR)$(PREFIX)/bin/containerd-shim-podshim-v1

clean:
	$(CARGO) clean
	rm -rf build bundles/*/*/rootfs
