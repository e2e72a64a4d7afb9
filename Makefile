# Every target creates .venv and installs the pinned deps if they are missing or changed (idempotent).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export TZ := UTC
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv demo test bench lint typecheck browser py314 synth serve preflight openapi clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

## make demo: three real sales-outreach runs (approved and sent, rejected, disqualified before any
## draft) on the local moto runtime; prints the email Claude drafted for the approved one
demo: $(STAMP)
	$(PY) -m local demo

## make test: lint, type-check and the whole pytest suite, offline
test: $(STAMP) lint typecheck browser py314
	STEPWISE_ASL_COVERAGE=strict $(PY) -m pytest

## make browser: Debian's chromium for tests/console (playwright never downloads browsers). Best effort:
## without root or a package mirror the install fails quietly and the console tests skip, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  { (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
	    || echo "chromium could not be installed: the browser tests in tests/console will be skipped"; }

## make py314: CPython 3.14 for WebAssembly (pyodide, pinned in tools/py314/package-lock.json), which
## precompiles the Lambda artifacts' bytecode when no native python3.14 exists. Best effort: without
## node/npm or the npm registry the artifacts ship source only, and synth, bench and the tests say so.
PY314 := tools/py314
$(PY314)/node_modules/.installed: $(PY314)/package.json $(PY314)/package-lock.json
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  echo "node/npm not found: no pyodide, the Lambda artifacts will ship without Python 3.14 bytecode"; \
	elif (cd $(PY314) && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then \
	  touch $@; \
	else \
	  echo "pyodide could not be installed (npm ci in $(PY314)): the Lambda artifacts will ship without Python 3.14 bytecode"; \
	fi

py314: $(PY314)/node_modules/.installed

## make bench: cold start, artifact sizes, state transitions, LLM cost, harness speed and warm overhead,
## one table with targets (never fails on a number); rewrites docs/performance.md. Builds the layers
## with pip (package registry) on first use. BENCH_ARGS="--suite" also times the whole test suite.
bench: $(STAMP) py314
	$(PY) -m bench --write docs/performance.md $(BENCH_ARGS)

## make serve: the HTTP API, approval pages and the web console on http://localhost:8000 (tokens: python -m local token --client NAME)
serve: $(STAMP)
	$(PY) -m local serve --port 8000

## make openapi: rewrite docs/openapi.json, the HTTP API's OpenAPI 3.1 contract generated from the routes and
## models (also served at GET /openapi.json); a test fails while the committed copy is stale
openapi: $(STAMP)
	$(PY) -m local.openapi --write

## make preflight: check the AWS account for what `cdk deploy` does not (bootstrap, API Gateway's CloudWatch
## role, SES identities and sandbox, every approver directory address deliverable, the deployed secrets, the cdk
## context); one line per check, fails on any
## FAIL. Needs AWS credentials (boto3 default chain). PREFLIGHT_ARGS="--profile p --region r -c stage=prod"
preflight: $(STAMP)
	$(PY) -m local preflight $(PREFLIGHT_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

## make synth: the CloudFormation templates in cdk.out/, one per workflow (offline: no Docker, no AWS credentials;
## the dependency layers are built with pip from the package registry; every artifact is precompiled for
## Python 3.14, see infra/packaging.py), checked by cdk-nag. A check, not a deploy: cdk.json names no
## addresses (a deploy must be given its own, README "Deploying to AWS"), so SYNTH_CONTEXT supplies the
## fictitious company the tests use (and examples/approvers.json's directory, examples/api_clients.json's clients); `make synth SYNTH_CONTEXT='{"senderEmail": ...}'` for yours.
SYNTH_CONTEXT ?= {"senderEmail": "outreach@acme-demo.com", "escalationApprover": "sales-manager@acme-demo.com", \
	"approvers": $(shell cat examples/approvers.json), "apiClients": $(shell cat examples/api_clients.json)}
synth: $(STAMP) py314
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='$(SYNTH_CONTEXT)' $(PY) app.py
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json
	@ls -1 cdk.out/*.template.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache cdk.out
