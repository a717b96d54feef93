/**
 * Bad input from the user: the command line prints its message as one line and exits with
 * code 2, before any simulation has run.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What went wrong with a file system call, in words rather than an errno line. */
const REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  ENOENT: 'no such file or directory',
  ENOSPC: 'no space left on the device',
  EEXIST: 'already exists',
  EDQUOT: 'disk quota exceeded',
};

/** A file system error as a short phrase: `permission denied`, not `EACCES: permission denied, open '…'`. */
export function fsReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && REASONS[code] !== undefined) return REASONS[code];
  const message = error instanceof Error ? error.message : String(error);
  // Node's messages start with the code and end with the call and path, which the caller names itself.
  return message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
}
