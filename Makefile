# skyroad: `make demo` runs the main job, `make test` the test suite. Both (re)build .venv
# idempotently through `make install`.
#
# ROS 2: with a distro sourced (ROS_DISTRO set and its rclpy importable) the venv sees the
# distro's packages (--system-site-packages) and the PyPI ROS wheels are NOT installed.
# Otherwise ROS 2 Jazzy comes from PyPI wheels pinned in setup.py's `ros-wheels` extra.

VENV        ?= .venv
PYTHON      ?= python3
VPY         := $(VENV)/bin/python
STAMP       := $(VENV)/.skyroad-install-stamp
ROS_SOURCED := $(shell [ -n "$$ROS_DISTRO" ] && $(PYTHON) -c 'import rclpy' >/dev/null 2>&1 && echo yes)
comma       := ,
EXTRAS      := $(if $(ROS_SOURCED),test$(comma)commonroad,test$(comma)commonroad$(comma)ros-wheels)
PYTEST_ARGS ?=

.PHONY: install test demo bench clean-venv

install: $(STAMP)

$(STAMP): setup.py setup.cfg constraints.txt package.xml
	@test -x $(VPY) || $(PYTHON) -m venv $(if $(ROS_SOURCED),--system-site-packages) $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps commonroad-clcs==2025.2.0
	@touch $@

test: install
	@$(VPY) -m pytest $(PYTEST_ARGS); rc=$$?; echo $$rc > .pytest-exit-code; exit $$rc

demo: install
	$(VENV)/bin/skyroad demo

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
