// Options wrap and unwrap share, declared once: where the result goes
// (-t, --output) and which platforms of an index are kept.
import type { Command } from 'commander';

/** commander collector for a repeatable option. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** -t (repeatable), --platform and --output, in that order. */
export function addDestinationOptions(cmd: Command, platformHelp: string): Command {
  return cmd
    .option('-t, --tag <ref>', 'registry reference to push to (repeatable)', collect, [])
    .option('--platform <list>', platformHelp)
    .option('--output <spec>', 'type=registry|oci|docker[,dest=PATH]');
}
