# The two commands a newcomer needs: `make run` and `make test`. Everything else has its own target.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
AWS_PORT ?= 5000
STAGE ?= dev
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: venv run test lint bench clean reset

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## make run: serve the gallery (API + web UI) on the embedded local AWS emulation
run: venv
	$(BIN)/python -m local.run --port $(PORT) --aws-port $(AWS_PORT)

## make test: lint, type-check and run the whole suite
test: venv lint
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check app.py chalicelib local tests bench
	$(BIN)/mypy app.py chalicelib

## make reset: forget the local stack's saved state
reset:
	rm -rf .local

clean: reset
	rm -rf $(VENV) .pytest_cache .mypy_cache

## make bench: time the image pipeline against naive Pillow and pyvips over the photos in $(PHOTOS)
PHOTOS ?= ../shared/photos
bench: venv
	$(BIN)/pip install -q -r bench/requirements.txt
	$(BIN)/python -m bench --photos $(PHOTOS)
