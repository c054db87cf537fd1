# make install: a .venv in the repo root with everything the tests and the demo need.
# make demo:    install, then open the console on the bundled model.
# make test:    install, then lint and run the suite.
# .venv-ppi:    the authors' ppi-python, in its own venv, only for tests/test_ppi.py to
#               check our PPI numbers against (it pulls numba and installs a top-level
#               package named `tests`: kept out of .venv, so it can never shadow ours).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sftscope-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# sftscope never loads llama-cpp-python's multimodal library (llava/mtmd): not building it
# saves about a fifth of the compile. Your own CMAKE_ARGS (e.g. -DGGML_CUDA=on) are appended.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF
PPI_VENV := .venv-ppi
PPI_STAMP := $(PPI_VENV)/.ppi-installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -c 'import llama_cpp' 2>/dev/null || $(PY) -m pip cache list 'llama_cpp_python*' 2>/dev/null \
	  | grep -q llama_cpp_python || echo 'sftscope: compiling llama.cpp for llama-cpp-python:' \
	  'about 8 minutes on 2 cores, once (pip caches the wheel); pip is quiet meanwhile.'
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $(CMAKE_ARGS)" \
	  $(PY) -m pip install --quiet -c constraints.txt -e '.[llama,hf,demo,server,dev]'
	touch $(STAMP)

# About 35 s from pip's cache (numba, pandas, statsmodels, scikit-learn).
$(PPI_STAMP):
	test -x $(PPI_VENV)/bin/python || python3 -m venv $(PPI_VENV)
	$(PPI_VENV)/bin/python -m pip install --quiet ppi-python==0.2.3
	touch $(PPI_STAMP)

demo: install
	$(VENV)/bin/sftscope --judge local

lint: install
	$(VENV)/bin/ruff check tui engines scorers sessions tests bench
	$(VENV)/bin/lint-imports

test: install lint $(PPI_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

bench: install
	$(PY) bench/overhead.py
	$(PY) bench/ui_latency.py
	$(PY) bench/judge_throughput.py
	$(PY) bench/large_sets.py
	$(PY) bench/session_scale.py
	$(PY) bench/report_speed.py

clean:
	rm -rf $(VENV) $(PPI_VENV) build *.egg-info
