# Two commands from a fresh clone: `make run` and `make test` (see README.md and docs/development.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench package clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Restarts the app when plugins/, chalicelib/ or app.py change; keeps the data in .tickwork/ (FRESH=1: start empty).
run: $(STAMP)
	.ci/ensure-postgres
	PORT=$(PORT) $(BIN)/python -m devstack $(if $(FRESH),--fresh)

test: $(STAMP)
	.ci/ensure-postgres
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench

# build/$(STAGE)/sam.json and deployment.zip, checked and cfn-linted (docs/operations.md).
STAGE ?= dev
package: $(STAMP)
	$(BIN)/python -m deploy.package --stage $(STAGE)

clean:
	rm -rf $(VENV) .tickwork .pytest_cache .ruff_cache build
