const numbers = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** A figure as the dashboard writes it: thousands separated, at most one decimal. */
export const fmt = (n: number): string => numbers.format(n);
