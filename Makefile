# Both entry points bootstrap their environment from nothing.
#   make run    the server alone (requirements/server.txt: no torch, TensorFlow, transformers)
#   make test   everything: Debian's postgresql, nginx and chromium when missing, the locked
#               test environment (requirements/test.txt), lint, types, the suite, then the
#               client's framework-free tests at its lowest declared versions (.venv-min)
# The stamps reinstall when a lock file or a pyproject changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVER_STAMP := $(VENV)/.server-installed
TEST_STAMP := $(VENV)/.test-installed
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed
LOCK_VENV := .venv-lock
PIP_COMPILE_FLAGS := --quiet --strip-extras --no-emit-index-url --no-emit-find-links
# Debian packages the tests run for real: the throwaway PostgreSQL cluster, the proxy in
# front of two replicas, the browser of the UI tests (never a downloaded build).
SYSTEM_PACKAGES := postgresql nginx chromium
# The client tests that need no framework (no torch, TensorFlow, Keras, JAX): they also run
# at the client's lowest declared versions. Keep in step with tests/client.
CLIENT_MIN_TESTS := tests/client/test_client.py tests/client/test_cli.py tests/client/test_public.py \
  tests/client/test_messages.py

.PHONY: test test-min run lint bench bench-server openapi lock system-packages clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(SERVER_STAMP): requirements/server.txt service/pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements/server.txt
	$(BIN)/pip install --quiet --no-deps -e service
	touch $@

$(TEST_STAMP): requirements/test.txt service/pyproject.toml client/pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements/test.txt
	$(BIN)/pip install --quiet --no-deps -e service -e client
	touch $@

# The client at the lower bounds of its dependencies (requirements/client-min.txt). The
# tests' fake registry (tests/client/fakes.py) evaluates with the server's schedule
# language, which needs pydantic beside numpy; the server's other dependencies stay out.
$(MIN_STAMP): requirements/client-min.txt client/pyproject.toml service/pyproject.toml
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install --quiet -c requirements/client-min.txt ./client pytest \
	  "pydantic>=2.7,<3" "networkx>=3"
	$(MIN_VENV)/bin/pip install --quiet --no-deps -e service
	touch $@

# Installs what is missing only (as root; elsewhere it says what to install). The packages'
# own services (the main PostgreSQL cluster, nginx on port 80) are kept from starting: the
# tests start their own, and nothing may be left running.
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (apt-get install them as root)"; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  status=$$?; [ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; exit $$status; \
	fi

test: system-packages $(TEST_STAMP)
	$(BIN)/ruff check service client tests bench
	$(BIN)/mypy service/stepsize_server client/stepsize
	$(BIN)/python -m pytest tests
	$(MAKE) test-min

# The server of these tests runs from the main environment.
test-min: $(MIN_STAMP) $(TEST_STAMP)
	STEPSIZE_TEST_SERVER_PYTHON=$(abspath $(BIN)/python) \
	  $(MIN_VENV)/bin/python -m pytest -p no:cacheprovider $(CLIENT_MIN_TESTS)

# The server with SQLite under ./data/ and the demo schedules loaded, on STEPSIZE_HOST and
# STEPSIZE_PORT (default 127.0.0.1:8000).
run: $(SERVER_STAMP)
	$(BIN)/stepsize-server load-demo
	$(BIN)/stepsize-server serve

# Regenerate openapi.yaml from the app (tests/api/test_openapi.py fails when it drifts).
openapi: $(SERVER_STAMP)
	$(BIN)/stepsize-server openapi --output openapi.yaml

# Re-resolve the lock files with pip's own resolver (pip-tools), preferring the versions
# already locked. torch stays the CPU build 2.13.0 that the pyprojects pin.
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || ($(PYTHON) -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/pip install --quiet "pip-tools>=7.4")
	$(LOCK_VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) --extra test --extra postgres \
	  -o requirements/test.txt service/pyproject.toml client/pyproject.toml
	$(LOCK_VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) --extra postgres \
	  -o requirements/server.txt service/pyproject.toml

lint: $(TEST_STAMP)
	$(BIN)/ruff check service client tests bench
	$(BIN)/ruff format --check service client tests bench

bench: $(TEST_STAMP)
	$(BIN)/python bench/evaluate.py

# wrk drives the load; PostgreSQL and nginx are two of the deployments compared.
bench-server: $(TEST_STAMP)
	$(MAKE) system-packages SYSTEM_PACKAGES="postgresql nginx wrk"
	$(BIN)/python bench/server.py

clean:
	rm -rf $(VENV) $(MIN_VENV) $(LOCK_VENV)
