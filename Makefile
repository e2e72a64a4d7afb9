# Every target creates .venv and installs the pinned deps if they are missing or changed (idempotent).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export TZ := UTC
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv demo test lint typecheck synth serve clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

## make demo: two real sales-outreach runs (approved and sent, rejected) on the local moto runtime
demo: $(STAMP)
	$(PY) -m local demo

## make test: lint, type-check and the whole pytest suite, offline
test: $(STAMP) lint typecheck
	STEPWISE_ASL_COVERAGE=strict $(PY) -m pytest

## make serve: the HTTP API + approval pages on http://localhost:8000 (API key from STEPWISE_API_KEY)
serve: $(STAMP)
	$(PY) -m local serve --port 8000

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

## make synth: the CloudFormation template in cdk.out/ (offline: no Docker, no AWS credentials;
## the dependency layers are built with pip from the package registry), checked by cdk-nag
synth: $(STAMP)
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out $(PY) app.py
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json
	@ls -1 cdk.out/*.template.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache cdk.out
