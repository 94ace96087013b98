import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { JSON_SCHEMA_COMMAND, JSON_SCHEMA_FILE, treefileJsonSchema } from '../../../../src/core/compose/treefile/json-schema.js';

const committed = readFileSync(new URL(`../../../../${JSON_SCHEMA_FILE}`, import.meta.url), 'utf8');

test(`${JSON_SCHEMA_FILE} is generated from the zod schema`, () => {
  assert.ok(committed === treefileJsonSchema(), `${JSON_SCHEMA_FILE} is out of date: run \`${JSON_SCHEMA_COMMAND}\` and commit the result`);
});

test('the JSON Schema is strict, documents defaults and has patterns an editor can compile', () => {
  const schema = JSON.parse(committed) as { additionalProperties: boolean; properties: Record<string, { default?: unknown }> };
  assert.equal(schema.additionalProperties, false);
  assert.equal(schema.properties.release?.default, 'trixie');
  assert.equal(schema.properties['machineid-compat']?.default, true);
  const patterns: string[] = [];
  JSON.stringify(schema, (key, value: unknown) => {
    if (key === 'pattern' && typeof value === 'string') patterns.push(value);
    return value;
  });
  assert.ok(patterns.length > 10);
  // JSON Schema regular expressions are ECMA-262 with the unicode flag, as editors' validators compile them.
  for (const p of patterns) assert.doesNotThrow(() => new RegExp(p, 'u'), p);
});
