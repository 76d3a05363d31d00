# Two commands do all set-up on a fresh machine:
#   make demo   - runtime install, the kernels compiled for this machine, then the tutorial flow on a
#                 built-in image
#   make test   - runtime + test install (TensorFlow is the reference), then ruff, the import
#                 contracts (lint-imports) and the test suite
# and one redraws the pictures of docs/how-srcnn-works.md (shipped x3 weights, or WEIGHTS=FILE)
# the README's demo figure (always the shipped x3) and the walkthrough's diagrams:
#   make docs-images [WEIGHTS=runs/x3/best.h5]
# and one writes the walkthrough as a notebook, docs/how-srcnn-works.ipynb:
#   make notebook
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test docs-images notebook clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/npsrcnn warmup
	$(BIN)/npsrcnn demo --out demo-output

# lint, format and the layers' import contracts first: each fails fast, before the long pytest run
test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# the walkthrough as a Jupyter notebook, generated from its Markdown (jupytext comes with the test extra)
notebook: $(VENV)/.test
	$(BIN)/python docs/notebook.py

docs-images: $(VENV)/.runtime
	$(BIN)/npsrcnn explain -o docs/img -s 3 --overwrite $(if $(WEIGHTS),--model $(WEIGHTS))
	$(BIN)/python docs/draw_demo_figure.py docs/img/demo.png
	$(BIN)/python docs/draw_diagrams.py docs/img

clean:
	rm -rf $(VENV) demo-output build *.egg-info
