# make install: a .venv in the repo root with everything the tests and the demo need.
# make demo:    install, then open the console on the bundled model.
# make test:    install, then lint and run the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sftscope-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[llama,hf,demo,server,dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/sftscope --judge local

lint: install
	$(VENV)/bin/ruff check tui engines scorers sessions tests bench

test: install lint
	$(PY) -m pytest -q -p no:cacheprovider

bench: install
	$(PY) bench/overhead.py
	$(PY) bench/ui_latency.py
	$(PY) bench/judge_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
