// Bundles the client and the daemon into dist/ so the shipped programs need no node_modules.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  // The D-Bus contract travels inside the bundles (src/dbus/contract.ts), so they need no data file at run time.
  define: {
    __APT_OSTREE_DBUS_CONTRACT__: JSON.stringify(readFileSync(new URL('data/dbus/org.aptostree.AptOstree1.xml', import.meta.url), 'utf8')),
  },
  logLevel: 'warning',
};
await Promise.all([
  build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/apt-ostree.mjs' }),
  build({ ...common, entryPoints: ['src/daemon/main.ts'], outfile: 'dist/apt-ostreed.mjs' }),
]);
