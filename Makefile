# ndu.dataplane task runner. `make help` lists the targets.
# The README's two commands: `make demo` (the rolling upgrade on the lab) and
# `make test` (every test stage). Both install what they need (as root);
# `make build` and `make ee` need neither root nor the lab (tests/packaging checks that).

SHELL       := /bin/bash
.DEFAULT_GOAL := help
TOP         := $(CURDIR)
VENV        := $(TOP)/.venv
PY          := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(TOP)/ansible.cfg
# Set this to the stages to run, e.g. `make test STAGES="lint unit"`.
STAGES      ?= lint sanity unit molecule faults-subset integration
COLLECTION  := build/collections/ansible_collections/ndu/dataplane
VERSION     := $(shell sed -n 's/^version: *//p' galaxy.yml)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ---- environment -----------------------------------------------------------
.PHONY: deps venv collection-link setup
deps: ## Install the Debian packages the tests and the lab need (root)
	@tools/deps.sh

venv: ## Create or reuse the pinned dev venv (.venv)
	@tools/venv.sh

collection-link: ## Make the checkout resolvable as ndu.dataplane
	@mkdir -p $(dir $(COLLECTION))
	@ln -sfn $(TOP) $(COLLECTION)

setup: deps venv collection-link

# ---- test stages -----------------------------------------------------------
.PHONY: test lint sanity unit molecule molecule-all integration integration-all faults faults-subset
test: setup ## Run every test stage in order; stop at the first failure
	@tools/stages.sh $(STAGES)

lint: venv collection-link ## ansible-lint (production), yamllint, changelog fragments, docs in step, galaxy-importer on the artifact
	ansible-lint --profile production
	yamllint --strict .
	antsibull-changelog lint
	$(PY) tools/gen_docs.py --check
	@tools/galaxy_import.sh

sanity: venv collection-link ## ansible-test sanity on the built collection and on the repository tree
	@tools/sanity.sh

unit: venv collection-link ## pytest unit tests, and the packaging tests (build, EE, demo target) that need no lab
	$(PY) -m pytest tests/unit tests/packaging tests/lab/hosts tests/lab/nova tests/lab/controlplane

molecule: setup ## make test's molecule scenarios on the lab's test-host image (tools/molecule.sh names what it skips)
	@tools/molecule.sh

molecule-all: setup ## Every molecule scenario, the Debian 12 (bookworm) one too
	@tools/molecule.sh --all

integration: setup ## make test's integration tests on the lab, ovn then ovs (brings it up if needed; tools/integration.sh names them)
	@tools/integration.sh

integration-all: setup ## Every integration test: all of them on ovn, then the endpoints and the rolls on ovs
	@tools/integration.sh --all

faults: setup ## Fault-injection suite on the lab: every fault of issue 8, prints the table (docs/faults.md)
	@tools/faults.sh

faults-subset: setup ## The fault tests make test runs (tools/faults.sh --subset names them)
	@tools/faults.sh --subset

# ---- lab -------------------------------------------------------------------
.PHONY: lab-up lab-down lab-status
lab-up: setup ## Start the lab (idempotent; fast when healthy); NETWORK=ovn|ovs picks the backend (default ovn)
	$(PY) tests/lab/labctl.py up $(if $(NETWORK),--network $(NETWORK))

lab-down: ## Remove everything the lab started (caches are kept)
	$(PY) tests/lab/labctl.py down

lab-status: ## Show the lab's health
	$(PY) tests/lab/labctl.py status

.PHONY: bench
bench: setup ## Run the benchmarks on the lab (bench/)
	$(PY) bench/run.py

# ---- collection ------------------------------------------------------------
.PHONY: build ee docs changelog demo clean
build: venv ## Build ndu-dataplane-$(VERSION).tar.gz into build/ (no root, no lab)
	ansible-galaxy collection build --force --output-path build/ .

ee: build ## Write the execution environment's build context to build/ee/context (ee/execution-environment.yml)
	@mkdir -p build/ee
	cp build/ndu-dataplane-$(VERSION).tar.gz build/ee/ndu-dataplane.tar.gz
	ansible-builder create -f ee/execution-environment.yml -c build/ee/context

docs: venv ## Regenerate docs/ and roles/*/README.md from argument_specs and DOCUMENTATION
	$(PY) tools/gen_docs.py

changelog: venv ## Release: fold the fragments into CHANGELOG.rst as galaxy.yml's version (tools/changelog_release.py)
	$(PY) tools/changelog_release.py

# The demo's roll prints one line per host step (the ndu.dataplane.progress callback, docs/progress.md);
# `make demo ANSIBLE_STDOUT_CALLBACK=default` shows Ansible's usual output instead.
demo: setup ## The rolling upgrade on the lab (installs what it needs, brings the lab up if needed)
	@ANSIBLE_STDOUT_CALLBACK=$${ANSIBLE_STDOUT_CALLBACK:-ndu.dataplane.progress} tools/demo.sh

clean: ## Remove build output (not the caches, not the lab)
	rm -rf build
