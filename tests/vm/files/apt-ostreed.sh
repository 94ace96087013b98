#!/bin/sh
exec /usr/bin/node /usr/lib/apt-ostree/apt-ostreed.mjs "$@"
