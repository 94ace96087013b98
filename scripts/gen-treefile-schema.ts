// Writes data/treefile.schema.json from the zod schema (src/core/compose/treefile/schema.ts), its single source.
// Run after changing the schema: node --import tsx scripts/gen-treefile-schema.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JSON_SCHEMA_FILE, treefileJsonSchema } from '../src/core/compose/treefile/json-schema.js';

const target = fileURLToPath(new URL(`../${JSON_SCHEMA_FILE}`, import.meta.url));
writeFileSync(target, treefileJsonSchema());
console.log(`wrote ${JSON_SCHEMA_FILE}`);
