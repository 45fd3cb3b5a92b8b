// The machine's load, as the benches print it next to their timings.
import { loadavg } from 'node:os';

/** The 1, 5 and 15 minute load averages, e.g. "0.52 1.10 1.31". */
export const loadAverages = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
