# SPDX-License-Identifier: GPL-2.0
#
# rxe_migros: everything starts here.
#
#   make demo               set everything up (cached), boot two VMs, migrate a
#                           running RDMA application in a container from one to
#                           the other with CRIU (tools/demo.sh), plot it
#   make check              every test: host unit tests, a fuzz smoke run, the
#                           uapi layout check, then the VM selftests
#   make check-vms          only the cross-VM selftests, in guests on one
#                           segment (tools/vms-run.sh); make check runs them too
#   make check-debug        the VM selftests again on a debug kernel (KASAN,
#                           kmemleak, ...): tools/check-debug.sh
#   make bench              ours against the C rxe in one boot (docs/bench.md)
#   make bench-downtime     make demo's migration RUNS times (3): its downtime,
#                           median and spread (bench/downtime.sh)
#   make fuzz FUZZ_S=600    fuzz the core's parsers and engines, FUZZ_S s each
#   make vm-run CMD='...'   run CMD as root in a VM on our kernel, in the checkout
#   make vm-shell           an interactive VM
#   make module             build rxe_migros.ko against our kernel
#   make plugin             build the CRIU plugin (out/criu/rxe_migros.so)
#
# The build chroot, the kernel and the guest rootfs are cached outside the
# checkout (RXE_MIGROS_CACHE, default /var/cache/rxe_migros), keyed on their
# inputs; see docs/building.md.

SHELL := /bin/bash
TOOLS := $(CURDIR)/tools

.PHONY: all toolchain kernel rootfs module plugin host-test fuzz fuzz-smoke abi-check selftests check check-vms check-debug demo bench bench-downtime vm-run vm-shell clean

all: module

toolchain:
	@$(TOOLS)/toolchain.sh

kernel: toolchain
	@$(TOOLS)/kernel.sh

rootfs: toolchain
	@$(TOOLS)/rootfs.sh >/dev/null

module: kernel
	@$(TOOLS)/module.sh

plugin: toolchain
	@$(TOOLS)/criu-plugin.sh

host-test:
	@$(TOOLS)/host-test.sh

fuzz: toolchain
	@FUZZ_S=$${FUZZ_S:-60} $(TOOLS)/fuzz.sh

fuzz-smoke: toolchain
	@$(TOOLS)/fuzz.sh --smoke

abi-check: kernel
	@$(TOOLS)/check-abi.sh

selftests: module plugin rootfs
	@$(TOOLS)/selftests.sh

check: host-test fuzz-smoke abi-check selftests

check-vms: module plugin rootfs
	@$(TOOLS)/vms-run.sh --vms 2 --timeout $${TIMEOUT:-2400} -- selftests/run.sh $(T)

check-debug: toolchain
	@$(TOOLS)/check-debug.sh

demo: module plugin rootfs
	@$(TOOLS)/vms-run.sh --vms 2 --timeout 900 -- sh tools/demo.sh
	@$(TOOLS)/demo-plot.sh

bench: module rootfs
	@$(TOOLS)/vm-run.sh --timeout $${TIMEOUT:-1800} -- bench/run.sh

bench-downtime: module plugin rootfs
	@$(CURDIR)/bench/downtime.sh $${RUNS:-3}

vm-run: module plugin rootfs
	@$(TOOLS)/vm-run.sh --timeout $${TIMEOUT:-1200} -- $(CMD)

vm-shell: module rootfs
	@$(TOOLS)/vm-run.sh --interactive

clean:
	@$(TOOLS)/module.sh clean
	rm -rf rxe_migros/proto/target
