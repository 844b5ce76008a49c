# vdsm-hook-largeguest: build, test, demo, bench. Targets install what they need when missing (as root).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := publish

DOTNET      ?= dotnet
CONFIG      ?= Release
OUT         := out
BIN         := $(OUT)/largeguest
PUBLISH_DIR := .build/publish
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

# Debian packages the tests use: libvirt's schema validator and parser (virt-xml-validate,
# virsh with its test:///default driver), the libvirt client library, objdump, strace (which replacements
# fsync), GNU patch; for the packaging tests rpm/rpmbuild, visudo (sudo), and a JVM and Node.js that evaluate the engine's
# regexes the way the engine (Java) and its webadmin (JavaScript) do; for the KSM tuner's tests the
# Prometheus project's text parser (python3-prometheus-client) and systemd-analyze (systemd); for the
# MoM tests the libvirt Python binding the real MoM daemon runs on (python3-libvirt); for the atomic writer's fallback a
# FUSE file system that refuses O_TMPFILE (fuse2fs).
TEST_PACKAGES := libvirt-clients libvirt0 binutils strace libxml2-utils patch rpm sudo openjdk-17-jre-headless nodejs python3-prometheus-client systemd python3-libvirt fuse2fs

# The RPM (docs/packaging.md). Version from Directory.Build.props; version, release, output
# directory, rpmbuild top directory and shipped config can be overridden (the upgrade test does).
RPM_NAME    := vdsm-hook-largeguest
RPM_VERSION ?= $(shell sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
RPM_RELEASE ?= 1
RPM_OUTDIR  ?= $(OUT)
RPM_TOPDIR  ?= .build/rpm/$(RPM_VERSION)-$(RPM_RELEASE)
RPM_CONFIG  ?= packaging/largeguest.json
RPM_FILE    := $(RPM_OUTDIR)/$(RPM_NAME)-$(RPM_VERSION)-$(RPM_RELEASE).x86_64.rpm
RPM_KSMTUNE := $(RPM_OUTDIR)/$(RPM_NAME)-ksmtune-$(RPM_VERSION)-$(RPM_RELEASE).x86_64.rpm
RPM_SOURCES := $(BIN) packaging/50_vdsm_hook_largeguest.sudoers packaging/vdsm-hook-largeguest.tmpfiles \
               LICENSE README.md docs/configuration.md docs/engine-config.md docs/packaging.md packaging/engine-properties.txt docs/vdsm-and-mom.md \
               packaging/largeguest-ksmtune.service docs/ksmtune.md docs/design.md docs/grammar.md docs/topology.md docs/ksm.md docs/e2e.md docs/admin.md

SOURCES := $(shell find lib hooks \( -name bin -o -name obj \) -prune -o \( -name '*.cs' -o -name '*.csproj' \) -print) Directory.Build.props

.PHONY: all build publish rpm test unit e2e e2e-numa demo bench deps clean

all: publish

deps:
	@scripts/ensure-packages.sh $(TEST_PACKAGES)

build:
	$(DOTNET) build Hooks.sln -c $(CONFIG) -warnaserror --nologo -v q

# Native AOT, self-contained, single file; IlcTreatWarningsAsErrors turns any trim/AOT warning into a failure.
publish: $(BIN)
$(BIN): $(SOURCES)
	$(DOTNET) publish hooks/largeguest/largeguest.csproj -c $(CONFIG) -o $(PUBLISH_DIR) --nologo -v q -warnaserror
	@mkdir -p $(OUT)
	cp $(PUBLISH_DIR)/largeguest $(BIN)
	@echo "published $(BIN) ($$(stat -c %s $(BIN)) bytes)"

# rpmbuild with a private _topdir; Debian's `rpm` package provides it (installed when missing).
rpm: $(RPM_FILE)
$(RPM_FILE): $(RPM_SOURCES) $(RPM_CONFIG) packaging/$(RPM_NAME).spec
	@scripts/ensure-packages.sh rpm binutils
	rm -rf $(RPM_TOPDIR) && mkdir -p $(RPM_TOPDIR)/SOURCES $(RPM_OUTDIR)
	cp -p $(RPM_SOURCES) $(RPM_TOPDIR)/SOURCES/
	cp -p $(RPM_CONFIG) $(RPM_TOPDIR)/SOURCES/largeguest.json
	glibc=$$(objdump -T $(BIN) | grep -oE 'GLIBC_[0-9.]+' | sed 's/GLIBC_//' | sort -uV | tail -1); \
	rpmbuild -bb --quiet --define "_topdir $(abspath $(RPM_TOPDIR))" --define "lg_version $(RPM_VERSION)" \
	    --define "lg_release $(RPM_RELEASE)" --define "lg_glibc $$glibc" packaging/$(RPM_NAME).spec
	cp $(RPM_TOPDIR)/RPMS/x86_64/$(notdir $(RPM_FILE)) $(RPM_FILE)
	cp $(RPM_TOPDIR)/RPMS/x86_64/$(notdir $(RPM_KSMTUNE)) $(RPM_KSMTUNE)
	@echo "built $(RPM_FILE) ($$(stat -c %s $(RPM_FILE)) bytes)"

# The README's test command: unit, golden, libvirt-validation and process tests against the published binary.
test: deps publish
	scripts/run-tests.sh

# Only the end-to-end tests: real guests under a private libvirtd (scripts/e2e/, docs/e2e.md). `make test`
# runs them too; they FAIL (never skip) when libvirtd cannot start or neither KVM nor TCG can run a guest.
e2e: deps publish
	scripts/run-tests.sh --filter "FullyQualifiedName~Largeguest.Tests.E2E"

# Only the NUMA test hosts (docs/e2e.md): VMs with 2 and 4 real NUMA nodes booting Debian's kernel, libvirtd inside.
e2e-numa: deps publish
	scripts/run-tests.sh --filter "FullyQualifiedName~Largeguest.Tests.E2E.Numa"

unit:
	$(DOTNET) test tests/Largeguest.Tests/Largeguest.Tests.csproj -c $(CONFIG) --nologo

demo: deps publish
	scripts/demo.sh $(BIN)

# Wall time (median of interleaved rounds) and peak RSS of the published hook run as VDSM runs it;
# exits non-zero when a target is missed. BENCH_ROUNDS=N for more rounds.
bench: publish
	@scripts/ensure-packages.sh python3
	python3 bench/bench.py $(BIN)
	python3 bench/topology_bench.py $(BIN)
	python3 bench/ksm_bench.py $(BIN)
	python3 bench/ksm_bench.py --busy-host --switches 2 $(BIN)
	/usr/bin/python3 bench/ksmtune_bench.py $(BIN)

clean:
	rm -rf $(OUT) .build lib/bin lib/obj hooks/*/bin hooks/*/obj tests/*/bin tests/*/obj
