import { describe, expect, it } from 'vitest';
import { secretValues } from '../../src/cli/run-command.js';
import { makeRedactor } from '../../src/engine/redact.js';

describe('values never shown', () => {
  it('the password of HTTPS_PROXY (as given and URL-decoded) and the AWS keys are scrubbed; a proxy without one adds nothing', () => {
    const env = { HTTPS_PROXY: 'http://ops:s%40cret-42@proxy.example.invalid:3128', AWS_SECRET_ACCESS_KEY: 'AKSECRET' };
    const values = secretValues(undefined, {}, env);
    expect(values).toEqual(expect.arrayContaining(['s%40cret-42', 's@cret-42', 'AKSECRET']));
    expect(secretValues(undefined, {}, { https_proxy: 'http://proxy.example.invalid:3128' })).toEqual([]);
    const redact = makeRedactor(values);
    const e = redact({ type: 'log', level: 'error', message: 'proxy said: bad auth for ops:s@cret-42' });
    expect(JSON.stringify(e)).not.toContain('s@cret-42');
  });
});
