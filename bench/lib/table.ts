/** Prints the table of a results file written with --results (bench/run's summary). */
import { formatTable, readResults } from './common.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: node --import tsx bench/lib/table.ts RESULTS.jsonl');
process.stdout.write(`${formatTable(await readResults(file))}\n`);
