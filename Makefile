# One command for the main job (`make demo`) and one for the tests (`make test`); each sets up
# the virtual environment it needs on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mobilenet demo

# Two workers (CI has two cores), one test module per worker at a time so that module fixtures
# (the wheel, exported files) are built once; the slowest tests are listed at the end.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadscope --durations=30

# The tests without the end-to-end runs (`@pytest.mark.slow`: real data, the wheel in a fresh venv).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadscope -m "not slow"

clean:
	rm -rf $(VENV) runs
