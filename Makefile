# apt-ostree's Debian package. `make deb` builds the bundles, refreshes the bash completion from them and packs
# dist/apt-ostree_<version>_all.deb (packaging/build-deb.ts); `make clean` removes what it made besides the bundles,
# which bin/apt-ostree and the tests run from.
NODE ?= node
TSX = $(NODE) --import tsx

.PHONY: all build completion deb clean

all: deb

# The same stamp scripts/setup keeps, so neither reinstalls what the other just installed.
node_modules/.apt-ostree-lock-stamp: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json $@

build: node_modules/.apt-ostree-lock-stamp
	$(NODE) build.mjs

# Rewrites data/completion/apt-ostree only when the commands changed: commit the result.
completion: build
	$(TSX) packaging/gen-completion.ts

deb: completion
	$(TSX) packaging/build-deb.ts

clean:
	rm -rf dist/deb dist/apt-ostree_*.deb
