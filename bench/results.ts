import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** bench/RESULTS.md, found from this module so any cwd works. */
export const RESULTS_FILE = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

const HEADER = '# Benchmark results\n\nEach section is rewritten by the benchmark named in its title; see `package.json` for the commands.\n';

/**
 * Replaces the `## <title>` section of the results file with `markdown` (the body, without
 * the heading), or appends it when there is none. Every other section is kept as it was.
 * A section runs from its heading to the next `## ` heading outside a code fence.
 */
export function writeSection(title: string, markdown: string, file: string = RESULTS_FILE): void {
  const heading = `## ${title}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : HEADER;
  const lines = text.split('\n');
  let start = -1;
  let end = lines.length;
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced || !line.startsWith('## ')) continue;
    if (start < 0 && line.trimEnd() === heading) start = i;
    else if (start >= 0) {
      end = i;
      break;
    }
  }
  const section = [heading, '', ...markdown.trim().split('\n'), ''];
  const next =
    start < 0
      ? [...trimTrailingBlank(lines), '', ...section]
      : [...lines.slice(0, start), ...section, ...lines.slice(end)];
  writeFileSync(file, `${trimTrailingBlank(next).join('\n')}\n`);
}

function trimTrailingBlank(lines: string[]): string[] {
  let n = lines.length;
  while (n > 0 && lines[n - 1]!.trim() === '') n--;
  return lines.slice(0, n);
}
