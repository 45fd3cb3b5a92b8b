// The chunks of a byte stream, one by one, as they were pushed. A Readable's
// own async iterator calls read(), which joins everything buffered into one
// new Buffer: on a decoder that pushes many small chunks that is a copy of
// the whole layer. This iterator hands the chunks over as they are, pausing
// the stream while `highWater` chunks wait.
import type { Readable } from 'node:stream';

export async function* chunksOf(s: Readable, highWater = 8): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => { const w = wake; wake = undefined; w?.(); };
  const onData = (c: Buffer | string) => { queue.push(typeof c === 'string' ? Buffer.from(c) : c); if (queue.length >= highWater) s.pause(); notify(); };
  const onEnd = () => { ended = true; notify(); };
  const onError = (e: unknown) => { failure ??= e; notify(); };
  const onClose = () => { if (!ended) failure ??= Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }); notify(); };
  s.on('error', onError); s.on('end', onEnd); s.on('close', onClose); s.on('data', onData);
  try {
    for (;;) {
      const c = queue.shift();
      if (c !== undefined) {
        if (queue.length < highWater && s.isPaused() && !ended) s.resume();
        yield c;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => { wake = resolve; });
    }
  } finally {
    s.off('data', onData); s.off('end', onEnd); s.off('close', onClose);
    // an error emitted after the consumer stopped must not go unhandled
    if (failure === undefined && !ended) s.pause();
    else s.off('error', onError);
  }
}
