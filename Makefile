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
# transformers' and huggingface_hub's bars ("Loading weights") do not read TQDM_DISABLE.
export HF_HUB_DISABLE_PROGRESS_BARS ?= 1
export PYTHONHASHSEED = 0

.PHONY: install test test-gguf test-published test-unit test-notebooks test-gpu book check-book pipeline bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[book,test,kernels]"
	touch $@

# The OLDEST transformers pyproject.toml allows, with the tokenizers and huggingface_hub it needs,
# in a plain folder over the venv's torch (no second venv): tests/test_compat.py loads the
# exported folders with it (PYTHONPATH=$(COMPAT_DIR)) and with the venv's newest, and compares.
# Changing a pin changes the stamp's name, so the folder is installed again.
COMPAT_DIR  ?= .venv-compat
COMPAT_PINS := transformers==4.45.2 tokenizers==0.20.3 huggingface_hub==0.36.2
COMPAT_STAMP = $(COMPAT_DIR)/.installed-$(subst ==,-,$(subst $() ,_,$(COMPAT_PINS)))
export TTL_COMPAT_DIR = $(abspath $(COMPAT_DIR))

.PHONY: compat-env
compat-env: $(COMPAT_STAMP)

$(COMPAT_STAMP): | $(VENV)/.installed
	rm -rf $(COMPAT_DIR)
	$(PY) -m pip install -q --no-deps --target $(COMPAT_DIR) $(COMPAT_PINS)
	touch $@

test: install compat-env
	$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider tests notebooks

test-unit: install
	$(PY) -m pytest -p no:cacheprovider tests

test-notebooks: install
	$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

# Chapters 6-9 with a published model (`published.model`, as the published-160m profile sets
# it), stood in for by the smoke export in the layout of a Hub repository, since CI has no
# network; fails if the stand-in's pytorch_model.bin pickle is ever loaded.
STANDIN := .published-standin
PUBLISHED_CHAPTERS := notebooks/06_generation.ipynb notebooks/07_evaluation.ipynb \
	notebooks/08_finetune_assin2.ipynb notebooks/09_finetune_hatebr.ipynb
test-published: install
	$(PY) tools/published_standin.py --out $(STANDIN)
	TTL_PROFILE=$(abspath $(STANDIN))/profile.yaml TTL_RUN_DIR=$(abspath $(STANDIN))/run \
		$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider $(PUBLISHED_CHAPTERS)
	@test ! -e $(STANDIN)/PICKLE_RAN || { echo "a pytorch_model.bin pickle was loaded"; exit 1; }

# llama.cpp parity of the GGUF export: installs the `gguf` extra (llama-cpp-python compiles
# llama.cpp from source, 10-15 minutes on 2 cores the first time; pip keeps the wheel in its
# cache) and runs the parity tests, which fail rather than skip when llama.cpp is missing.
# GGML_NATIVE=OFF: a portable build. The default -march=native build of llama-cpp-python 0.3.36
# segfaulted in test_agreement_of_each_quantization_is_measured on an AVX-512/AMX CPU (its
# native-only kernel paths), while the portable one passes there; CI machines differ in CPU.
test-gguf: install
	CMAKE_ARGS="$${CMAKE_ARGS:--DGGML_NATIVE=OFF}" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PY) -m pip install -q -e ".[gguf]"
	TTL_REQUIRE_LLAMA_CPP=1 $(PY) -m pytest -p no:cacheprovider tests/test_gguf.py tests/test_gguf_llama_cpp.py

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
	$(PY) benchmarks/packing.py
	$(PY) benchmarks/generation.py
	@if $(PY) -c "import llama_cpp" 2>/dev/null; then $(PY) benchmarks/llama_cpp_quant.py; \
	else echo "skipping benchmarks/llama_cpp_quant.py: llama-cpp-python is not installed (make test-gguf installs it)"; fi

clean:
	rm -rf _build runs ci-artifacts .jupyter_cache .published-standin
