import { execFile } from 'node:child_process';

/** Runs a command and resolves with its stdout; rejects with its stderr in the message. */
export function run(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, {
            cause: err,
          }),
        );
      } else {
        resolve(stdout);
      }
    });
  });
}
