# The two commands of the README. Both create the virtual environment on first use.
#   make book   executes every chapter (default profile) and builds the HTML into _build/html
#   make test   runs the whole test suite (unit tests, chapters, book build, browser check)
#   make reproduce  executes every chapter twice (fresh artifacts each time) and compares the headline numbers
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: book test reproduce venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	touch $@

book: venv
	$(BIN)/jupyter-book build . -W

test: venv
	$(BIN)/python -m pytest

reproduce: venv
	RHEUMABOOK_REPRODUCE=1 $(BIN)/python -m pytest tests/test_book.py -k "reproducibility or chapter_executes"

clean:
	rm -rf _build
