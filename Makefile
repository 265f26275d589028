# dockerweb: `make run` and `make test` do all set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
APT_PACKAGES := lxc busybox-static redis-server iptables nftables iproute2 python3-venv postgresql \
                python3-dev gcc chromium
# what only the tests use: a real registry, skopeo to place/read images, htpasswd for its auth,
# Debian's docker-compose (1.29, issue 14's compose test)
TEST_APT_PACKAGES := docker-registry skopeo apache2-utils docker-compose
# the benches' optional peers (bench/peers.py; dockerd comes with docker.io): `make bench-peers`
PEER_APT_PACKAGES := podman
# Debian's node and npm for the dashboard's npm packages; skipped when an npm is on PATH
# already (NodeSource's nodejs bundles its own npm and conflicts with Debian's npm package)
NODE_APT_PACKAGES := nodejs npm
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast deps test-deps lint bench bench-peers migrate docker-cli install

define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

deps: $(VENV)/.installed node_modules/.installed
	$(call apt_install,$(APT_PACKAGES))

test-deps: deps docker-cli
	$(call apt_install,$(TEST_APT_PACKAGES))


$(VENV)/.installed: requirements.txt
	@test -x /usr/bin/python3 && /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv)
	test -d $(VENV) || /usr/bin/python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(NODE_APT_PACKAGES))
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

migrate: deps
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py setup

# bin/run takes the state root's lock first (a second `make run` says so and exits 1),
# then migrates and sets up under it and runs supervisord in the foreground
run: deps
	bin/run

# the systemd units (deploy/systemd/) for production: copied with this checkout's path, then
# daemon-reload (not enabled or started: `systemctl enable --now dockerweb.target`)
SYSTEMD_DIR := /etc/systemd/system
install: deps
	install -d -m 755 $(DESTDIR)$(SYSTEMD_DIR)
	for u in deploy/systemd/*.service deploy/systemd/*.target; do \
	  sed 's|@REPO@|$(CURDIR)|g' $$u > $(DESTDIR)$(SYSTEMD_DIR)/$$(basename $$u) && \
	  chmod 644 $(DESTDIR)$(SYSTEMD_DIR)/$$(basename $$u) || exit 1; \
	done
	@if [ -z "$(DESTDIR)" ]; then systemctl daemon-reload; \
	  else echo "DESTDIR set: systemctl daemon-reload skipped"; fi

lint: deps
	$(VENV)/bin/ruff check .

# the tests drive dockerweb with a real docker CLI (client only; dockerd is never started)
docker-cli:
	@command -v docker >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io)

test: test-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -v

# the fast tier only: services on the test database against a fake engine (no LXC, no root,
# seconds); `make test` runs it too
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider tests/fast

bench: deps
	cd bench && for b in bench_*.py; do ../$(PY) $$b || exit 1; done

# opt-in: podman (runc) as a peer of bench_docker.py; the benches skip it when it is missing
bench-peers:
	$(call apt_install,$(PEER_APT_PACKAGES))
