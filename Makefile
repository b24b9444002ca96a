# Stratus developer and operator entry points.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv test test-unit test-integration test-ansible lint format sample-config \
        bench-api bench-scheduler bench-image bench-boot tiny-image aio molecule

help:
	@echo "make aio            deploy the all-in-one cloud on this host and boot a first server"
	@echo "make test           run every test tier"
	@echo "make lint           ruff over the tree"
	@echo "make sample-config  regenerate etc/stratus/stratus.conf.sample"
	@echo "make bench-api | bench-scheduler | bench-image | bench-boot   print benchmark figures"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -q -e '.[test,compute]'
	touch $@

venv: $(VENV)/.installed

# The Molecule scenarios come last: they need podman, runc and debootstrap
# (.ci/run installs them) and build their base image when it is missing.
test: venv lint test-unit test-integration test-ansible test-deploy molecule

test-unit: venv
	$(BIN)/pytest -q tests/unit tests/support

test-integration: venv
	$(BIN)/pytest -q tests/integration

test-ansible: venv
	$(BIN)/pytest -q tests/ansible

# ruff; ansible-test sanity (validate-modules, import, compile, pep8, pylint, yamllint,
# ansible-doc ...) over a collection-shaped copy of library/ and module_utils/ (see
# tests/sanity/run-sanity); ansible-lint over the playbooks, roles and test playbooks.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	tests/sanity/run-sanity
	ANSIBLE_LIBRARY=$(CURDIR)/library ANSIBLE_MODULE_UTILS=$(CURDIR)/module_utils \
	    ANSIBLE_FILTER_PLUGINS=$(CURDIR)/filter_plugins $(BIN)/ansible-lint

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sample-config: venv
	$(BIN)/oslo-config-generator --config-file etc/stratus/config-generator.conf

bench-api: venv
	$(PY) tests/bench/bench_api.py

bench-scheduler: venv
	$(PY) tests/bench/bench_scheduler.py

bench-image: venv
	$(PY) tests/bench/bench_image.py

bench-boot: venv
	$(PY) tests/bench/bench_boot.py

tiny-image:
	tests/images/build-tiny-image

# --- deployment (playbooks/, roles/, inventories/) ----------------------------------
.PHONY: aio-prereqs aio-check destroy test-deploy

# One command on a fresh Debian 12 host with root: apt prerequisites, the venv,
# the test image, playbooks/site.yml on inventories/aio, then the server list.
# AIO_ARGS go to ansible-playbook (e.g. AIO_ARGS="-e @extra.yml").
aio: aio-prereqs
	$(MAKE) venv
	scripts/aio deploy $(AIO_ARGS)

aio-prereqs:
	scripts/aio prereqs

# What a deploy would change, without changing it.
aio-check: venv
	scripts/aio check $(AIO_ARGS)

# Remove the all-in-one deployment (services, /opt/stratus, /etc/stratus,
# /var/lib/stratus, guests).
destroy: venv
	scripts/aio destroy $(AIO_ARGS)

# Deploys the all-in-one cloud on this host (as root), checks it, destroys it;
# prints the timings of the fresh and the no-change `make aio`.
test-deploy: venv
	STRATUS_DEPLOY_TESTS=1 $(BIN)/pytest -q -s tests/deploy

# --- Molecule (molecule/) ---------------------------------------------------------------
.PHONY: molecule-image molecule-prereqs molecule-default molecule-multinode

# molecule/env sets what the scenarios need (CONTAINERS_CONF=containers.conf,
# the cache under STRATUS_CACHE, default ~/.cache/stratus, the collections path).
MOLECULE_ENV = eval "$$(VENV=$(VENV) molecule/env)" &&
MOLECULE_ARGS ?=

# The base image localhost/stratus-molecule-bookworm (skipped when it exists).
molecule-image:
	scripts/build-molecule-image

$(VENV)/.molecule-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[molecule]'
	touch $@

# The image, the test image, and the wheelhouse that the containers install from.
molecule-prereqs: $(VENV)/.molecule-installed molecule-image tiny-image
	$(MOLECULE_ENV) PIP=$(BIN)/pip molecule/build-wheelhouse

# Both scenarios, one after the other: create, converge, idempotence, verify,
# destroy. MOLECULE_ARGS go to `molecule test` (e.g. --destroy=never).
molecule: molecule-default molecule-multinode

molecule-default: molecule-prereqs
	$(MOLECULE_ENV) molecule test -s default $(MOLECULE_ARGS)

molecule-multinode: molecule-prereqs
	$(MOLECULE_ENV) molecule test -s multinode $(MOLECULE_ARGS)
