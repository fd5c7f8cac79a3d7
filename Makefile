# The two commands a newcomer needs: `make run` and `make test`. Everything else has its own target.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
AWS_PORT ?= 5000
STAGE ?= dev
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: venv run test lint browser bench clean reset policy deploy destroy package check-consistency loadtest admin

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U "pip<26.3"  # chalice 1.34 requires pip < 26.3
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## make run: serve the gallery (API + web UI) on the embedded local AWS emulation
run: venv
	$(BIN)/python -m local.run --port $(PORT) --aws-port $(AWS_PORT)

## make test: lint, type-check and run the whole suite
test: venv lint browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

## make browser: Debian's Chromium for the browser tests (Playwright's own download is not reachable)
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

lint: venv
	$(BIN)/ruff check app.py chalicelib local tests bench deploy
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

## make policy: run the suite recording each Lambda function's AWS calls; write .chalice/policy-*.json
AWS_CALLS_LOG ?= .local/aws-calls.json
policy: venv
	-RECORD_AWS_CALLS=$(AWS_CALLS_LOG) $(BIN)/python -m pytest
	$(BIN)/python -m deploy.policy write $(AWS_CALLS_LOG)

## make deploy STAGE=dev: stack (CloudFormation) + functions and API (Chalice); prints the API URL
deploy: venv
	$(BIN)/python -m deploy.deploy deploy --stage $(STAGE)

## make destroy STAGE=dev [PURGE=1]: delete the API, functions and stack; PURGE=1 also the photos
destroy: venv
	$(BIN)/python -m deploy.deploy destroy --stage $(STAGE) $(if $(filter 1 true yes,$(PURGE)),--purge)

## make package STAGE=dev: the Lambda packages and Terraform config, in .local/build/package-$(STAGE)
package: venv
	$(BIN)/python -m deploy.deploy package --stage $(STAGE) --out .local/build/package-$(STAGE)

## make check-consistency [STAGE=dev] [ARGS=--repair]: do records and objects agree? (local: the running `make run`)
check-consistency: venv
	$(BIN)/python -m chalicelib.consistency --stage $(if $(filter command line environment,$(origin STAGE)),$(STAGE),local) --aws-port $(AWS_PORT) $(ARGS)

## make admin ARGS="stats" [STAGE=dev]: the operator's command line (docs/operating.md; local: the running `make run`)
admin: venv
	$(BIN)/python -m chalicelib.admin --stage $(if $(filter command line environment,$(origin STAGE)),$(STAGE),local) --aws-port $(AWS_PORT) $(ARGS)

## make loadtest: 10 users upload 20 photos each on a throwaway local stack; latency per route (not in make test)
loadtest: venv
	$(BIN)/python -m bench.loadtest $(LOADTEST_ARGS)
