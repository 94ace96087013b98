/**
 * `tsx tests/kit/build-cli.ts`: builds the kit (or finds it in the cache) and prints its paths as JSON, for demos
 * and for poking at the kit by hand.
 */
import { getKit } from './index.js';

const kit = await getKit();
const { aptSourcesLine, ...data } = kit;
process.stdout.write(`${JSON.stringify({ ...data, aptSourcesExample: aptSourcesLine('http://127.0.0.1:8080/apt') }, null, 2)}\n`);
