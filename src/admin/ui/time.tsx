/**
 * An instant as the page first shows it: UTC, readable without the script. The page's
 * script then shows it in the viewer's local time and keeps the UTC value for hovering.
 */
export function Time({ at }: { at: string | null }) {
  if (at === null) return <span class="muted">—</span>;
  return (
    <time datetime={at} title={`${at} (UTC)`}>
      {at.slice(0, 16).replace('T', ' ')} UTC
    </time>
  );
}
