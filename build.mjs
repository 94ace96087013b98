// Bundles the client and the daemon into dist/ so the shipped programs need no node_modules.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
};
await Promise.all([
  build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/apt-ostree.mjs' }),
  build({ ...common, entryPoints: ['src/daemon/main.ts'], outfile: 'dist/apt-ostreed.mjs' }),
]);
