# The two commands a new user needs: `make demo` and `make test`. Each sets itself up first.
.PHONY: setup demo test test-fast clean

VENV := .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= edgeclas-demo

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(VENV)/bin/edgeclas demo --out $(DEMO_OUT)

# Whole suite: unit tests, integration tests (real Paddle, compilers, qemu, adb), native ctest.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Unit tests only.
test-fast: setup
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

clean:
	rm -rf build native/build* $(DEMO_OUT) .pytest_cache
