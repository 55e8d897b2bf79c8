# tracline — the same verbs everywhere: `make demo`, `make test`, `make lint`, `make lock`.
#
# Every part has its own virtual environment under .venv/ (Airflow and Prefect cannot share
# one), created from its committed lock file with core installed from the working tree.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
UV := $(VENV)/tools/bin/uv
CORE := $(VENV)/core
INTEGRATIONS := airflow prefect dagster

.PHONY: demo dist test test-core test-integrations lint lock venvs clean services-up services-down

$(UV):
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# One environment per part: sync the lock, then install the working tree without deps.
# core builds two C libraries (capture's file-access interposer, the directory walk's inner
# loop; see core/hatch_build.py).
CORE_BUILD := core/pyproject.toml core/hatch_build.py core/src/tracline/capture/_preload.c \
	core/src/tracline/hashing/_listing.c

$(CORE)/.synced: $(UV) core/requirements.lock $(CORE_BUILD)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(CORE)
	VIRTUAL_ENV=$(CORE) $(UV) pip sync --quiet core/requirements.lock
	VIRTUAL_ENV=$(CORE) $(UV) pip install --quiet --no-deps -e core
	touch $@

$(VENV)/%/.synced: $(UV) integrations/%/requirements.lock integrations/%/pyproject.toml $(CORE_BUILD)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)/$*
	VIRTUAL_ENV=$(VENV)/$* $(UV) pip sync --quiet integrations/$*/requirements.lock
	VIRTUAL_ENV=$(VENV)/$* $(UV) pip install --quiet --no-deps -e core -e integrations/$*
	touch $@

venvs: $(CORE)/.synced $(foreach i,$(INTEGRATIONS),$(VENV)/$(i)/.synced)

demo: $(CORE)/.synced
	$(CORE)/bin/python examples/demo/run_demo.py

# A wheel of every part in dist/ (core's with its C speedups compiled), to `pip install`
# anywhere: docs/quickstart.md.
dist: $(UV)
	rm -rf dist
	$(UV) build --quiet --wheel --out-dir dist core
	for i in $(INTEGRATIONS); do $(UV) build --quiet --wheel --out-dir dist integrations/$$i || exit 1; done

services-up:
	scripts/devstack.sh install
	scripts/devstack.sh start

services-down:
	scripts/devstack.sh stop

# Installs everything (environments, PostgreSQL, Marquez), starts the services, runs every
# package's tests in its own environment, stops the services; fails if any suite fails or
# collects no test.
test:
	scripts/system-deps.sh
	$(MAKE) venvs
	scripts/run-tests.sh

# ruff over everything, mypy strict over core and each integration (in its own environment),
# and no import cycle between sibling modules (import-linter; contracts in pyproject.toml).
lint: venvs
	$(CORE)/bin/ruff check core integrations tests benchmarks examples scripts
	$(CORE)/bin/mypy
	for i in $(INTEGRATIONS); do $(VENV)/$$i/bin/mypy integrations/$$i/src || exit 1; done
	PYTHONPATH=$(subst $(eval) ,:,$(foreach i,$(INTEGRATIONS),integrations/$(i)/src)) \
	    $(CORE)/bin/lint-imports --no-cache

lock: $(UV)
	$(UV) pip compile --quiet --python-version 3.11 --universal core/pyproject.toml \
	    --extra test --extra postgres --extra server -o core/requirements.lock
	for i in $(INTEGRATIONS); do \
	    printf -- "-e ./core\n-e ./integrations/$$i[test]\n" | $(UV) pip compile --quiet \
	        --python-version 3.11 --universal - --no-emit-package tracline \
	        --no-emit-package tracline-$$i -o integrations/$$i/requirements.lock || exit 1; \
	done

clean:
	rm -rf $(VENV) .tracline dist
