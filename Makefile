# The two commands of the README. Both set up everything first (scripts/setup.sh).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup lit pytest clean

demo: setup
	$(BIN)/python -m patsparse.demo

test: setup
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

lit: setup
	$(BIN)/lit -sv test

pytest: setup
	$(BIN)/pytest test experiments

clean:
	rm -rf build test/**/Output .pytest_cache
