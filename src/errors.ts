/**
 * Expected failures. The CLI prints `xbuild: <message>` (plus `hint: ...`)
 * and exits with `exitCode`; anything that is not an XbuildError is a bug
 * and is printed with its stack.
 *
 * Codes are stable identifiers, listed (with their meaning) in this type; the
 * exit codes they map to are in README "Exit codes and errors".
 */
export type ErrorCode =
  | 'USAGE'            // bad flags / arguments
  | 'BAD_REFERENCE'    // malformed image name
  | 'NOT_FOUND'        // repository / tag / blob / file does not exist
  | 'UNAUTHORIZED'     // wrong or missing credentials
  | 'DENIED'           // authenticated but not allowed
  | 'NETWORK'          // host unreachable, TLS, connection failures after retries
  | 'REGISTRY'         // other registry error (status + OCI error codes in message)
  | 'DIGEST_MISMATCH'  // blob content does not match its descriptor
  | 'UNSUPPORTED'      // platform / media type / archive shape xbuild cannot handle
  | 'NO_EMULATOR'      // the emulator for a platform is not built / not found
  | 'QEMU_SOURCE'      // QEMU source could not be fetched / unpacked / patched
  | 'QEMU_BUILD'       // configure / make failed
  | 'INVALID_IMAGE'    // structurally broken manifest / config / layer
  | 'INVALID_ELF'      // not an ELF file, or truncated / inconsistent headers (inspect-elf, verify)
  | 'IO';              // local file system errors

export const EXIT_FINDINGS = 1;
export const EXIT_FAILURE = 2;

export class XbuildError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly exitCode: number;
  /** true when repeating the same operation may succeed (network, 5xx, 429). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; exitCode?: number; retryable?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'XbuildError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? EXIT_FAILURE;
    this.retryable = opts.retryable ?? false;
  }
}

/** Prefix an error with what was being done ("pulling X for linux/arm/v7: ..."), keeping code and hint. */
export function wrapError(context: string, err: unknown): Error {
  if (err instanceof XbuildError) {
    return new XbuildError(err.code, `${context}: ${err.message}`, {
      hint: err.hint, cause: err, exitCode: err.exitCode, retryable: err.retryable,
    });
  }
  if (err instanceof Error && (err as NodeJS.ErrnoException).code) {
    const e = err as NodeJS.ErrnoException;
    return new XbuildError('IO', `${context}: ${e.message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}
