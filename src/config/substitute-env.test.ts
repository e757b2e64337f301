import { describe, expect, it } from 'vitest';
import { substituteEnv } from './substitute-env.js';

describe('substituteEnv', () => {
  it('fills ${NAME} and ${NAME:-default} in nested string values, empty counting as unset', () => {
    const doc = { routes: [{ upstream: '${UP:-http://127.0.0.1:9100}/x', name: 'a-${SUFFIX}' }], n: 3 };
    expect(substituteEnv(doc, { SUFFIX: 'b', UP: '' })).toEqual({
      document: { routes: [{ upstream: 'http://127.0.0.1:9100/x', name: 'a-b' }], n: 3 },
      problems: [],
    });
    expect(substituteEnv(doc, { SUFFIX: 'b', UP: 'http://demo-upstream:9100' }).document).toMatchObject({
      routes: [{ upstream: 'http://demo-upstream:9100/x' }],
    });
  });

  it('names the path of every reference to an unset variable without a default', () => {
    const { problems } = substituteEnv({ routes: [{ upstream: '${MISSING}' }] }, {});
    expect(problems).toEqual([expect.stringMatching(/^routes\.0\.upstream: \$\{MISSING\} names an unset environment variable/)]);
  });
});
