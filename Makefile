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

test: $(STAMP)
	$(PY) -m pytest -q

# The tests without the end-to-end runs (`@pytest.mark.slow`: real data, the wheel in a fresh venv).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs
