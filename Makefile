# `make test` and `make bench` each set everything up (idempotently) and then run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := ffmpeg libcairo2-dev libpango1.0-dev pkg-config gcc python3-dev python3-venv \
	texlive-latex-base texlive-latex-extra dvisvgm
PYTEST_ARGS ?=

.PHONY: test bench setup system-deps typecheck clean

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/renderbench run $(BENCH_ARGS)

typecheck: setup
	$(PY) -m mypy

setup: system-deps $(STAMP)

# ffmpeg/ffprobe for encoding and probing; cairo/pango headers, a C compiler and Python's
# headers because pycairo (and manimpango where no wheel fits) compile on install; venv for
# .venv (Debian's python3 ships without it); LaTeX for Manim's Tex/MathTex (the explainer-tex
# workload): latex, dvisvgm, and standalone.cls, which manim's default template loads and
# Debian ships in texlive-latex-extra (it brings preview.sty and xkeyval with it).
system-deps:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "renderbench setup: Python >= 3.11 needed, $(PYTHON) is $$($(PYTHON) -V 2>&1); set PYTHON=python3.11 (or newer)" >&2; exit 1; }
	@missing=""; \
	command -v cc >/dev/null || missing="$$missing cc"; \
	$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || missing="$$missing python-headers"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python-venv"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v ffprobe >/dev/null || missing="$$missing ffprobe"; \
	command -v pkg-config >/dev/null && pkg-config --exists 'pangocairo >= 1.30.0' cairo || missing="$$missing cairo/pango-dev"; \
	command -v latex >/dev/null || missing="$$missing latex"; \
	command -v dvisvgm >/dev/null || missing="$$missing dvisvgm"; \
	{ command -v kpsewhich >/dev/null && kpsewhich standalone.cls >/dev/null; } || missing="$$missing standalone.cls"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "renderbench setup: installing$$missing from Debian packages"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "renderbench setup: missing$$missing. Install them, e.g.:" >&2; \
	    echo "  sudo apt-get install $(APT_PACKAGES)" >&2; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dask,dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
