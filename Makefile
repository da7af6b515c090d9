# Set-up is two commands: `make demo` and `make test`; both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= /tmp/blur-augment-demo

.PHONY: demo test lint format bench clean

$(BIN)/blur-augment: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,query,plot,eval]"
	touch $@

demo: $(BIN)/blur-augment
	rm -rf $(DEMO_OUT)
	$(BIN)/blur-augment run --input samples/images --output $(DEMO_OUT) --seed 7 \
		--max_sigma 4 --direct_num_workers 2 --direct_running_mode multi_processing
	$(BIN)/blur-augment summary $(DEMO_OUT)/_blur_log

test: $(BIN)/blur-augment
	$(BIN)/python -m pytest -q

lint: $(BIN)/blur-augment
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/blur-augment
	$(BIN)/python -m pip install --quiet -e ".[bench]"  # the peers (albumentations, imagecorruptions)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/kinds.py
	$(BIN)/python benchmarks/augmenter.py

format: $(BIN)/blur-augment
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
