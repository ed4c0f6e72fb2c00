# Interactive Attention -- build, test and benchmark the book.
#   make book    create .venv, install, build _build/html executing every chapter (strict)
#   make test    unit/property tests, the strict build, and browser tests
# Also: make serve, make notebooks (re-pair .ipynb from .md), make bench, make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is installed first and on its own, so that the rest never pulls a different build.
# The default is the CPU wheel this project is tested with. On a Linux laptop without a GPU,
# point TORCH_INDEX at PyTorch's CPU-only wheel index to avoid the multi-GB CUDA build;
# if a torch is already in .venv it is kept.
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
JB_FLAGS    := -n -W --keep-going
CHAPTERS    := $(wildcard chapters/[0-9][0-9]_*.md)

.PHONY: book test serve notebooks bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; v = sys.version_info[:2]; assert (3, 10) <= v <= (3, 12), f"need Python 3.10-3.12, found {v}"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python code/pyproject.toml
	$(BIN)/python -c 'import torch' 2>/dev/null || \
	  $(BIN)/pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install -e "./code[book,test]"
	touch $@

book: $(VENV)/.installed
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "The book is in _build/html: open _build/html/index.html, or run 'make serve'."

serve: book
	@echo "Serving on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory _build/html

notebooks: $(VENV)/.installed
	$(BIN)/jupytext --to ipynb $(CHAPTERS)

test: book
	$(BIN)/python -m pytest code/tests

bench: $(VENV)/.installed
	$(BIN)/python code/benchmarks/run.py

clean:
	rm -rf _build
