import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository's `lua/` folder, found from this module so any cwd works (src/ or dist/). */
const LUA_DIR = fileURLToPath(new URL('../../lua/', import.meta.url));

const INCLUDE = /^--- @include "([a-z0-9-]+)"\s*$/gm;

/**
 * The text of `lua/<name>.lua` with each `--- @include "x"` line replaced by
 * `lua/includes/x.lua`. An include is inlined once; includes do not include others, so a
 * script lists what it needs in dependency order.
 */
export function loadLua(name: string, dir: string = LUA_DIR): string {
  const seen = new Set<string>();
  return readFileSync(`${dir}${name}.lua`, 'utf8').replace(INCLUDE, (_, include: string) => {
    if (seen.has(include)) return '';
    seen.add(include);
    return readFileSync(`${dir}includes/${include}.lua`, 'utf8');
  });
}
