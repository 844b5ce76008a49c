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
# virsh with its test:///default driver), the libvirt client library, objdump.
TEST_PACKAGES := libvirt-clients libvirt0 binutils libxml2-utils patch

SOURCES := $(shell find lib hooks -name '*.cs' -o -name '*.csproj') Directory.Build.props

.PHONY: all build publish test unit e2e demo bench deps clean

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

# The README's test command: unit, golden, libvirt-validation and process tests against the published binary.
test: deps publish
	scripts/run-tests.sh

# Only the end-to-end tests: real guests under a private libvirtd (scripts/e2e/, docs/e2e.md). `make test`
# runs them too; they FAIL (never skip) when libvirtd cannot start or neither KVM nor TCG can run a guest.
e2e: deps publish
	scripts/run-tests.sh --filter "FullyQualifiedName~Largeguest.Tests.E2E"

unit:
	$(DOTNET) test tests/Largeguest.Tests/Largeguest.Tests.csproj -c $(CONFIG) --nologo

demo: deps publish
	scripts/demo.sh $(BIN)

bench: publish
	python3 bench/bench.py $(BIN)

clean:
	rm -rf $(OUT) .build lib/bin lib/obj hooks/*/bin hooks/*/obj tests/*/bin tests/*/obj
