# Interactive Attention -- build, test and benchmark the book.
#   make book       create .venv, install, execute the chapters that changed, build _build/html (strict)
#   make lab        JupyterLab on the chapters (open any chapters/NN_*.ipynb)
#   make unit       the fast loop: unit, property and reference tests + lint, no book build (~1 min)
#   make test       everything CI runs: lint, the strict build, then every test (browser tests included)
# Also: make notebooks (regenerate chapters/*.ipynb from the .md), make lint, make serve, make bench,
#       make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is installed first and on its own, so that the rest never pulls a different build.
# The default is the CPU wheel this project is tested with. On a Linux laptop without a GPU,
# point TORCH_INDEX at PyTorch's CPU-only wheel index to avoid the multi-GB CUDA build;
# if a torch is already in .venv it is kept.
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
# Chapters executed at once before the build (default: min(usable cores, chapters to run)).
JOBS        ?=
NOTEBOOKS   := $(BIN)/python code/bookext/notebooks.py

.PHONY: book execute lab test unit lint serve notebooks bench clean

# Python 3.10-3.13: the code needs 3.10 (PEP 604 types); 3.14 is refused until it is tested.
# Which versions are tested: README.md.
$(BIN)/python:
	$(PYTHON) -c 'import sys; v = sys.version_info[:2]; assert (3, 10) <= v <= (3, 13), f"need Python 3.10-3.13, found {v}"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python code/pyproject.toml
	$(BIN)/python -c 'import torch' 2>/dev/null || \
	  $(BIN)/pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install -e "./code[book,lab,test]"
	touch $@

# Runs the chapters not yet in the execution cache, several at a time, into the cache the build reads.
execute: $(VENV)/.installed
	$(NOTEBOOKS) execute $(if $(JOBS),--jobs $(JOBS))

# Executes what the cache lacks, as above, then the strict jupyter-book build (started early, while the
# last chapters run: code/bookext/notebooks.py build).
book: $(VENV)/.installed
	$(NOTEBOOKS) build $(if $(JOBS),--jobs $(JOBS))
	@echo "The book is in _build/html: open _build/html/index.html, or run 'make serve'."

# Saving in JupyterLab strips outputs from chapters/NN_*.ipynb, so reading and running leave git clean.
lab: $(VENV)/.installed
	PYTHONPATH=code $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) \
	  --ContentsManager.pre_save_hook=bookext.notebooks.strip_outputs_before_save chapters/

serve: book
	@echo "Serving on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory _build/html

notebooks: $(VENV)/.installed
	$(NOTEBOOKS) export

lint: $(VENV)/.installed
	$(BIN)/ruff check code

unit: lint
	node --test code/tests/js/
	$(BIN)/python -m pytest code/tests -m "not site and not cuda"

test: lint book
	node --test code/tests/js/
	ATTNBOOK_REQUIRE_SITE=1 $(BIN)/python -m pytest code/tests

bench: $(VENV)/.installed
	$(BIN)/python code/benchmarks/run.py

clean:
	rm -rf _build
