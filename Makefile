# routepilot — the commands a developer and CI use. Run as root on Debian 12.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := bird2 frr gobgpd iproute2 iputils-ping traceroute iptables nftables softflowd pmacct fping tshark tcpdump prometheus stress-ng postgresql snmpd snmp snmptrapd smitools \
	libnetfilter-queue-dev libnfnetlink-dev build-essential python3-dev python3-venv procps chromium

.PHONY: setup apt-deps demo test test-unit test-integration test-lab bench soak lint clean gobgp-api

# Idempotent: installs only what is missing, so a second run takes a second or two.
setup: apt-deps $(VENV)/.installed gobgp-api

apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "setup: installing Debian packages: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# The packaged daemons must not run on the host: the lab starts its own, per namespace.
	@for s in bird frr gobgpd prometheus postgresql snmpd snmptrapd snmptrapd.socket; do systemctl disable --now $$s >/dev/null 2>&1 || true; done
	@# Without systemd the packaged PostgreSQL cluster is started by its init script: stop it too.
	@command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | while read v c _; do \
		pg_ctlcluster $$v $$c stop >/dev/null 2>&1 || true; done || true

# setup.py and the C source too: `pip install -e` compiles the prober's C extension in place.
$(VENV)/.installed: pyproject.toml setup.py src/routepilot/probe/_fastpath.c
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $@

demo: setup
	$(PY) -m routepilot.cli.main demo

# The suite runs the linters first, so CI holds the line on style and types too.
# Integration and lab tests use fixed namespaces and ports, so they run one at a time;
# they mostly wait on daemons and packets, so the unit tests (which share nothing) run
# beside them on the other core, their output kept in build/test-unit.log and printed
# after (CI's time: 1.8 minutes saved). Each run collects only its tiers' folders
# (tests/conftest.py marks a test by its folder and refuses one marked otherwise):
# importing and rewriting every other module cost ~20 s a run.
test: setup lint
	@mkdir -p build
	@$(PY) -m pytest -m unit tests/unit --durations=10 -p no:cacheprovider \
		> build/test-unit.log 2>&1 & unit=$$!; \
	$(PY) -m pytest -m "not unit" tests/integration tests/lab --durations=30; lab=$$?; \
	wait $$unit; units=$$?; \
	echo "== unit tests, run beside the others (build/test-unit.log)"; cat build/test-unit.log; \
	[ $$lab -eq 0 ] && [ $$units -eq 0 ]

test-unit: setup
	$(PY) -m pytest -m unit tests/unit

test-lab: setup
	$(PY) -m pytest -m lab tests/lab

bench: setup
	@for b in bench/*/run.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The soak (#18): a full table, flows, churn, probes and the API at once, figures against
# budgets (bench/soak/run.py). CPU-heavy: run it alone. `make soak PROFILE=smoke|pr|long`,
# ROUTE_SOURCE=bmp to learn the table over BMP from an FRR edge (build/soak-PROFILE-bmp.json),
# BACKEND=gobgp for gobgpd as routepilot's speaker (build/soak-PROFILE-gobgp.json).
PROFILE ?= pr
ROUTE_SOURCE ?= addpath
BACKEND ?= exabgp
soak: setup
	@mkdir -p build
	$(PY) bench/soak/run.py --profile $(PROFILE) --route-source $(ROUTE_SOURCE) --backend $(BACKEND) \
		--logs build/soak-logs \
		--json build/soak-$(PROFILE)$(if $(filter bmp,$(ROUTE_SOURCE)),-bmp)$(if $(filter gobgp,$(BACKEND)),-gobgp).json

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

# GoBGP's gRPC stubs (for rib.speaker.backend: gobgp) are generated, not committed: GoBGP's
# .proto files come from Debian's golang-github-osrg-gobgp-dev (the gobgpd version), extracted
# into build/ without installing it (that would pull ~66 Go source packages), and the stubs go
# into the git-ignored $(GOBGP_GEN). Remade only when an input changes.
GOBGP_DEB   := golang-github-osrg-gobgp-dev
GOBGP_PROTO := build/gobgp-api/usr/share/gocode/src/github.com/osrg/gobgp/api
GOBGP_API   := src/routepilot/rib/speaker/gobgp_api
GOBGP_GEN   := $(GOBGP_API)/_gen

gobgp-api: $(GOBGP_GEN)/gobgp_pb2.py

$(GOBGP_PROTO)/gobgp.proto:
	@rm -rf build/gobgp-api && mkdir -p build/gobgp-api/deb
	@cd build/gobgp-api/deb && { apt-get download -qq $(GOBGP_DEB) 2>/dev/null \
		|| { apt-get update -qq && apt-get download -qq $(GOBGP_DEB); }; }
	dpkg-deb -x build/gobgp-api/deb/$(GOBGP_DEB)_*.deb build/gobgp-api
	@touch $@

$(GOBGP_GEN)/gobgp_pb2.py: $(GOBGP_PROTO)/gobgp.proto $(GOBGP_API)/proto/watch.proto \
		$(GOBGP_API)/generate.py $(VENV)/.installed
	$(PY) -m routepilot.rib.speaker.gobgp_api.generate --proto-dir $(GOBGP_PROTO) $(GOBGP_GEN)

clean:
	-$(PY) -m routepilot.cli.main lab down --all
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache $(GOBGP_GEN) src/routepilot/probe/_fastpath*.so
