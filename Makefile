# Stratus developer and operator entry points. `make help` lists the targets: it
# reads the `## ` comment on each target's line, so every target keeps one there.
#
# Each target installs what it needs first: the Debian packages through
# scripts/prereqs (one list, by need; quick when everything is there), the venv
# through the venv target.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PREREQS := scripts/prereqs
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv test-prereqs test test-unit test-integration test-ansible test-tempest lint format \
        sample-config bench-api bench-scheduler bench-image bench-boot bench-network bench-firewall \
        bench-metadata tiny-image

help: ## list the targets
	@awk -F ':[^#]*## ' '/^[a-z][a-z0-9-]*:.*## / {printf "make %-20s %s\n", $$1, $$2}' \
	    $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	$(PREREQS) venv
	test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -q -e '.[test,compute]'
	touch $@

venv: $(VENV)/.installed ## create .venv with Stratus and its test tools (apt: headers, libvirt-dev)

test-prereqs: ## install every Debian package that `make test` needs (scripts/prereqs test)
	$(PREREQS) test

# After lint and the unit tier, two lanes run side by side (scripts/lanes prefixes
# each line with its lane and times each tier): the tiers that run clouds as
# processes on this host, one after the other as their network agents share the
# host's nftables tables, and the Molecule scenarios, in their own containers and
# namespaces (they build their base image when it is missing). The deployment
# tier comes last and alone: it installs Stratus on this host.
test: test-prereqs venv lint test-unit tiny-image ## install what the tests need, then run every tier
	MAKE="$(MAKE)" scripts/lanes cloud=test-integration,test-ansible,test-tempest containers=molecule
	$(MAKE) --no-print-directory test-deploy

test-unit: venv ## unit tier and the test fixtures' self-tests (apt: MariaDB, RabbitMQ, qemu-img)
	$(PREREQS) unit
	$(BIN)/pytest -q tests/unit tests/support

test-integration: venv ## integration tier: services as processes, RabbitMQ, MariaDB, QEMU guests
	$(PREREQS) integration
	$(BIN)/pytest -q --durations=15 tests/integration

test-ansible: venv ## the modules and the filter plugin through ansible-playbook against a live cloud
	$(PREREQS) ansible
	$(BIN)/pytest -q tests/ansible

# Tempest against a private cloud; TEMPEST_ARGS=--discover runs every test skip.txt leaves.
test-tempest: venv ## Tempest's compute, image and identity API tests: tests/tempest/pass.txt must pass
	$(PREREQS) integration
	$(BIN)/pip install -q -e '.[tempest]'
	$(PY) -m tests.tempest.run $(TEMPEST_ARGS)

# ruff; ansible-test sanity (validate-modules, import, compile, pep8, pylint, yamllint,
# ansible-doc ...) over a collection-shaped copy of library/ and module_utils/ (see
# tests/sanity/run-sanity); ansible-lint over the playbooks, roles and test playbooks.
lint: venv ## ruff, ansible-test sanity over the modules, ansible-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	tests/sanity/run-sanity
	ANSIBLE_LIBRARY=$(CURDIR)/library ANSIBLE_MODULE_UTILS=$(CURDIR)/module_utils \
	    ANSIBLE_FILTER_PLUGINS=$(CURDIR)/filter_plugins $(BIN)/ansible-lint

format: venv ## ruff format and ruff check --fix over the tree
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sample-config: venv ## regenerate etc/stratus/stratus.conf.sample
	$(BIN)/oslo-config-generator --config-file etc/stratus/config-generator.conf

bench-api: venv ## print API throughput and latency (wrk)
	$(PREREQS) bench
	$(PY) tests/bench/bench_api.py

bench-scheduler: venv ## print scheduler decisions/s at 1k, 10k and 100k hosts
	$(PY) tests/bench/bench_scheduler.py

bench-image: venv ## print image upload and download MB/s
	$(PREREQS) bench
	$(PY) tests/bench/bench_image.py

bench-boot: venv ## print API-to-ACTIVE boot latency and boots/s
	$(PREREQS) bench
	$(PY) tests/bench/bench_boot.py

bench-network: venv ## print port create/delete per second and the boot latency a network adds
	$(PREREQS) bench
	$(PY) tests/bench/bench_network.py

bench-firewall: venv ## print the time for a security group change with 1,000 ports (root, nft)
	$(PREREQS) bench
	$(PY) tests/bench/bench_firewall.py

bench-metadata: venv ## print metadata requests/s and p50/p99 through the metadata proxy (root, wrk)
	$(PREREQS) bench
	$(PY) tests/bench/bench_metadata.py

tiny-image: ## build the bootable test image into tests/images/cache/ (apt: qemu-utils)
	$(PREREQS) image
	tests/images/build-tiny-image

# --- deployment (playbooks/, roles/, inventories/) ----------------------------------
.PHONY: aio aio-prereqs aio-check destroy test-deploy

# One command on a fresh Debian 12 host with root: apt prerequisites, the venv,
# the test image, playbooks/site.yml on inventories/aio, then the server list.
# AIO_ARGS go to ansible-playbook (e.g. AIO_ARGS="-e @extra.yml").
aio: aio-prereqs ## deploy the all-in-one cloud on this host and boot a first server
	$(MAKE) venv
	scripts/aio deploy $(AIO_ARGS)

aio-prereqs: ## install the Debian packages that make aio needs on this host
	scripts/aio prereqs

aio-check: venv ## what a make aio would change, changing nothing (--check --diff)
	scripts/aio check $(AIO_ARGS)

destroy: venv ## remove the all-in-one deployment (services, /opt/stratus, /etc/stratus, data, guests)
	scripts/aio destroy $(AIO_ARGS)

# Deploys the all-in-one cloud on this host (as root), checks it, destroys it;
# prints the timings of the fresh and the no-change `make aio`.
test-deploy: venv ## deployment tier, as root: make aio from scratch, checks, destroy
	$(PREREQS) deploy
	STRATUS_DEPLOY_TESTS=1 $(BIN)/pytest -q -s tests/deploy

# --- Molecule (molecule/) ---------------------------------------------------------------
.PHONY: molecule molecule-image molecule-prereqs molecule-default molecule-multinode

# molecule/env sets what the scenarios need (CONTAINERS_CONF=containers.conf,
# the cache under STRATUS_CACHE, default ~/.cache/stratus, the collections path).
MOLECULE_ENV = eval "$$(VENV=$(VENV) molecule/env)" &&
MOLECULE_ARGS ?=

molecule-image: ## build the base image localhost/stratus-molecule-bookworm when missing (apt: podman, debootstrap)
	$(PREREQS) molecule
	scripts/build-molecule-image

$(VENV)/.molecule-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[molecule]'
	touch $@

molecule-prereqs: $(VENV)/.molecule-installed molecule-image tiny-image ## Molecule in the venv, the base image, the test image, the wheelhouse
	$(MOLECULE_ENV) PIP=$(BIN)/pip molecule/build-wheelhouse

# Both scenarios, one after the other: create, converge, idempotence, verify,
# destroy. MOLECULE_ARGS go to `molecule test` (e.g. --destroy=never).
molecule: molecule-default molecule-multinode ## both Molecule scenarios (MOLECULE_ARGS go to molecule test)

molecule-default: molecule-prereqs ## the all-in-one Molecule scenario
	$(MOLECULE_ENV) molecule test -s default $(MOLECULE_ARGS)

molecule-multinode: molecule-prereqs ## the three-machine Molecule scenario
	$(MOLECULE_ENV) molecule test -s multinode $(MOLECULE_ARGS)

# Schema-driven fuzzing (tests/fuzz/run.py): a private control plane on SQLite, an
# admin token, up to FUZZ_EXAMPLES schemathesis cases per operation of /openapi.json.
.PHONY: fuzz
FUZZ_EXAMPLES ?= 50
fuzz: venv ## schemathesis against a private cloud (FUZZ_EXAMPLES cases per operation); fails on any 5xx
	$(PY) -m tests.fuzz.run --max-examples $(FUZZ_EXAMPLES)
