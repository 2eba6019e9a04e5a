# Both entry points bootstrap .venv from nothing; the stamp reinstalls when a pyproject changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test run lint bench openapi clean

$(STAMP): service/pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e "service[test,postgres]" -e "client[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check service client tests bench
	$(BIN)/mypy service/stepsize_server client/stepsize
	$(BIN)/python -m pytest tests

# The server on 127.0.0.1:8000 with SQLite under ./data/ and the demo schedules loaded.
run: $(STAMP)
	$(BIN)/stepsize-server load-demo
	$(BIN)/stepsize-server serve --host 127.0.0.1 --port 8000

# Regenerate openapi.yaml from the app (tests/api/test_openapi.py fails when it drifts).
openapi: $(STAMP)
	$(BIN)/stepsize-server openapi --output openapi.yaml

lint: $(STAMP)
	$(BIN)/ruff check service client tests bench
	$(BIN)/ruff format --check service client tests bench

bench: $(STAMP)
	$(BIN)/python bench/evaluate.py

clean:
	rm -rf $(VENV)
