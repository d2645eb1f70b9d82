# routepilot — the commands a developer and CI use. Run as root on Debian 12.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := bird2 frr iproute2 iputils-ping traceroute iptables nftables softflowd pmacct fping tshark tcpdump prometheus stress-ng postgresql snmpd snmp \
	libnetfilter-queue-dev libnfnetlink-dev build-essential python3-venv procps chromium

.PHONY: setup apt-deps demo test test-unit test-integration test-lab bench lint clean

# Idempotent: installs only what is missing, so a second run takes a second or two.
setup: apt-deps $(VENV)/.installed

apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "setup: installing Debian packages: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# The packaged daemons must not run on the host: the lab starts its own, per namespace.
	@for s in bird frr prometheus postgresql snmpd; do systemctl disable --now $$s >/dev/null 2>&1 || true; done
	@# Without systemd the packaged PostgreSQL cluster is started by its init script: stop it too.
	@command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | while read v c _; do \
		pg_ctlcluster $$v $$c stop >/dev/null 2>&1 || true; done || true

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $@

demo: setup
	$(PY) -m routepilot.cli.main demo

# The suite runs the linters first, so CI holds the line on style and types too.
test: setup lint
	$(PY) -m pytest tests --durations=30

test-unit: setup
	$(PY) -m pytest -m unit tests

test-lab: setup
	$(PY) -m pytest -m lab tests

bench: setup
	@for b in bench/*/run.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

clean:
	-$(PY) -m routepilot.cli.main lab down --all
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
