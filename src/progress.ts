/**
 * Progress events: the library reports, the CLI renders (bars on a TTY,
 * plain lines otherwise, nothing with --quiet). The library never prints.
 */
export type ProgressEvent =
  | { kind: 'step'; message: string }                                   // a phase starts ("building qemu-arm")
  | { kind: 'bytes'; id: string; label: string; done: number; total?: number; unit?: 'steps' } // blob / download progress (counts of build steps with unit 'steps')
  | { kind: 'done'; id: string; label: string; note?: string }          // a blob or unit finished ("exists", "mounted")
  | { kind: 'log'; message: string };                                   // a line worth showing in verbose/CI logs

export type OnProgress = (ev: ProgressEvent) => void;
export const noProgress: OnProgress = () => {};
