// Build step: compile the JSON Schemas once into standalone ajv validators (dist/schemas/*.cjs),
// so that `runbook validate`/`plan`/`run` do not spend ~0.6 s compiling them at every start.
// Each file carries the sha256 of the schema it was made from; schema-check.ts uses it only while the
// schema is unchanged, and compiles at run time otherwise (same options, same messages).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'schemas');
mkdirSync(out, { recursive: true });
for (const name of ['playbook', 'inventory']) {
  const text = readFileSync(join(root, 'schemas', `${name}.schema.json`), 'utf8');
  // the options of schema-check.ts's runtime compile, plus source code generation
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false, code: { source: true, esm: false } });
  const validate = ajv.compile(JSON.parse(text));
  const code = standaloneCode.default ? standaloneCode.default(ajv, validate) : standaloneCode(ajv, validate);
  const sha = createHash('sha256').update(text).digest('hex');
  writeFileSync(join(out, `${name}.cjs`), `${code}\nmodule.exports.schemaSha256 = ${JSON.stringify(sha)};\n`);
}
