import { describe, expect, it } from 'vitest';
import { unstorableTextPath } from './storable-text.js';

const unstorablePath = (value: unknown) => unstorableTextPath(value)?.join('.') ?? null;

describe('unstorableTextPath', () => {
  it('finds a NUL or a lone surrogate in a string or a key, and names where', () => {
    expect(unstorablePath(JSON.parse('{"data":{"object":{"metadata":{"quotagate_subject":"org\\u0000"}}}}'))).toBe('data.object.metadata.quotagate_subject');
    expect(unstorablePath(JSON.parse('{"items":[{"id":"ok"},{"id":"\\ud800"}]}'))).toBe('items.1.id');
    expect(unstorablePath(JSON.parse('{"a":{"\\udc00x":1}}'))).toBe('a.\udc00x');
    expect(unstorablePath('\u0000')).toBe('');
  });

  it('accepts everything else, surrogate pairs (emoji) included', () => {
    expect(unstorablePath(JSON.parse('{"name":"Zoë 😀","n":[1,null,true],"nested":{"deep":["x"]}}'))).toBeNull();
  });
});
