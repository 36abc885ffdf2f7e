# rl-darts: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
ROOT_DIR ?= runs/demo
# Test processes: many tests wait on launcher subprocesses, so 2 workers use
# 2 cores better than one.
TEST_WORKERS ?= 2
CXX ?= g++
# The supernet's fused elementwise mixing (rl_darts/fast/fused.py), compiled for this CPU.
KERNEL := rl_darts/fast/kernels/_mix_elementwise.so
# TensorFlow's build: cpu or gpu, never both; auto picks gpu where nvidia-smi lists a GPU.
TF ?= auto
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
TF_VARIANT := $(if $(filter auto,$(TF)),$(if $(HAS_GPU),gpu,cpu),$(TF))
STAMP := $(VENV)/.installed-$(TF_VARIANT)

.PHONY: setup system-deps demo test test-fast bench gpu-check

setup: $(STAMP) system-deps $(KERNEL) $(KERNEL).isa

# The pinned stack and one TensorFlow build (cpu or gpu, never both), resolved in
# one pip call so that every pin holds together (a separate TensorFlow install
# once upgraded tf-agents' typing-extensions pin). dm-acme 0.4.0 goes in with
# --no-deps (see requirements-nodeps.txt). Switching TF=gpu after cpu removes
# the other build first.
$(STAMP): requirements.txt requirements-tf-cpu.txt requirements-tf-gpu.txt requirements-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: '$(PYTHON)' not found; rl-darts needs Python 3.11 (make PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: '$(PYTHON)' is not Python 3.11; rl-darts needs 3.11 (make PYTHON=/path/to/python3.11)"; exit 1; }
	@case "$(TF_VARIANT)" in cpu|gpu) ;; *) echo "error: TF=$(TF); allowed: auto, cpu, gpu"; exit 1;; esac
	@[ "$(TF_VARIANT)" = cpu ] || [ -n "$(HAS_GPU)" ] || { echo "error: TF=gpu, but nvidia-smi finds no GPU here (no NVIDIA driver or no GPU); use TF=cpu (or TF=auto)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-cpu $(VENV)/.installed-gpu
	@echo "Installing the pinned stack with TensorFlow for $(TF_VARIANT) into $(VENV) (log: $(VENV)/install.log) ..."
	@{ $(BIN)/pip uninstall -y $(if $(filter cpu,$(TF_VARIANT)),tensorflow,tensorflow-cpu) \
	  && $(BIN)/pip install -r requirements.txt -r requirements-tf-$(TF_VARIANT).txt \
	  && $(BIN)/pip install --no-deps -r requirements-nodeps.txt \
	  && $(BIN)/pip install --no-deps --no-build-isolation -e . ; } > $(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; echo "error: pip install failed (full log: $(VENV)/install.log)"; exit 1; }
	@touch $@

# Graphviz's `dot` draws the cell diagrams, g++ builds the kernel and Mesa's EGL
# renders DM-Control offscreen on the CPU: installed from Debian when missing.
system-deps: $(STAMP)
	@missing=""; command -v dot >/dev/null || missing="graphviz"; \
	command -v $(CXX) >/dev/null || missing="$$missing g++"; \
	ldconfig -p | grep -q libEGL_mesa.so.0 || missing="$$missing libegl1 libegl-mesa0 libgl1-mesa-dri"; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing$$missing ..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } > $(VENV)/apt.log 2>&1 \
	      || { tail -n 20 $(VENV)/apt.log; echo "error: could not install$$missing with apt-get"; exit 1; }; \
	  else \
	    echo "error: missing$$missing and cannot install it here (needs root and apt-get); install the system package(s):$$missing"; exit 1; \
	  fi; }

# Built against the venv's TF headers for KERNEL_ARCH (default: this CPU). For
# one build shared by the hosts of a cluster: make KERNEL_ARCH=x86-64-v2 setup
# (delete the library first). Its .isa file lists the instruction sets it was
# built for; a CPU that lacks one loads the TF ops instead (rl_darts/fast/fused.py).
# -Wno-psabi: its SIMD vectors never leave the file, so GCC's ABI notes about
# them don't apply.
KERNEL_ARCH ?= native
$(KERNEL): rl_darts/fast/kernels/mix_elementwise.cc $(STAMP) | system-deps
	@echo "Building $@ for -march=$(KERNEL_ARCH) ..."
	@$(CXX) -O3 -march=$(KERNEL_ARCH) -Wno-psabi -shared -fPIC $< -o $@.tmp \
	  $$($(BIN)/python -c 'import tensorflow as tf; print(" ".join(tf.sysconfig.get_compile_flags() + tf.sysconfig.get_link_flags()))' 2>/dev/null) \
	  && mv $@.tmp $@

$(KERNEL).isa: $(KERNEL)
	@$(CXX) -march=$(KERNEL_ARCH) -dM -E - </dev/null \
	  | sed -n 's/^#define __\([A-Z0-9_]*\)__ 1$$/\1/p' > $@.tmp && mv $@.tmp $@

gpu-check: setup
	$(BIN)/python -m launchers.gpu_check

demo: setup
	$(BIN)/python -m launchers.ppo --gin_configs=gin_configs/ppo/demo.gin --root_dir=$(ROOT_DIR)

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# Unit and equivalence tests: no subprocess, no whole training loop.
test-fast: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow"

bench: setup
	@for script in bench/*_throughput.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
