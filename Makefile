# The two commands of the course: `make book` builds the whole course (executing every
# chapter in the smoke profile on the CPU) and `make test` runs the tests. Both create
# .venv and install what they need on first use.

VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= smoke
# A GPU box keeps the CUDA build it has; a CPU machine pins the CPU build of PyTorch
# (a bare `torch` would download a CUDA build of several GB).
TORCH_SPEC ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo "torch>=2.4" || echo "torch==2.13.0")
BOOK_FLAGS ?= -W -n --keep-going

export TTL_PROFILE ?= $(PROFILE)
# tqdm's bars become widgets in notebooks; the static book and CI logs do better without them.
export TQDM_DISABLE ?= 1
export PYTHONHASHSEED = 0

.PHONY: install test test-unit test-notebooks test-gpu book check-book pipeline bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[book,test,kernels]"
	touch $@

test: install
	$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider tests notebooks

test-unit: install
	$(PY) -m pytest -p no:cacheprovider tests

test-notebooks: install
	$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

# On a GPU machine: the compiled Triton kernels and the model with kernels at the TTL sizes
# (the file skips itself without CUDA, so this target is for GPU boxes).
test-gpu: install
	$(PY) -m pytest -p no:cacheprovider tests/test_kernels_cuda.py

book: install
	$(VENV)/bin/jupyter-book build . $(BOOK_FLAGS)
	@echo "open _build/html/index.html"

check-book:
	$(PY) .ci/check_book.py _build/html --screenshots ci-artifacts/screenshots

pipeline: install
	$(VENV)/bin/ttl pipeline --profile $(PROFILE) --out runs/pipeline-$(PROFILE)

bench: install
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/attention_cpu.py
	$(PY) benchmarks/tokenizer.py
	$(PY) benchmarks/curation.py

clean:
	rm -rf _build runs ci-artifacts .jupyter_cache
