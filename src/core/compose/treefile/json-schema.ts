/** data/treefile.schema.json, for editors: generated from the zod schema so the two can not disagree. */
import { z } from 'zod';
import { TreefileSchema } from './schema.js';

export const JSON_SCHEMA_FILE = 'data/treefile.schema.json';
export const JSON_SCHEMA_COMMAND = 'node --import tsx scripts/gen-treefile-schema.ts';

/** The JSON Schema text, exactly as committed (two-space indent, final newline). */
export function treefileJsonSchema(): string {
  const schema = z.toJSONSchema(TreefileSchema, { target: 'draft-2020-12', io: 'input' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
