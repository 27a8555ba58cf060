// Calling user code (listeners, onTimeout, accept, compare, factories). A throw, or a
// thenable that rejects or whose then() throws, is handed to `onError`, never to the caller,
// a timer or a loop that did nothing wrong.

/** Where a package reports a user callback's failure (its 'error' event or channel). */
export type ErrorSink = (error: unknown) => void;

function absorb(result: unknown, onError: ErrorSink): void {
  if (result === null || (typeof result !== 'object' && typeof result !== 'function')) return;
  let then: unknown;
  try {
    then = (result as { then?: unknown }).then;
  } catch (error) {
    onError(error);
    return;
  }
  if (typeof then !== 'function') return;
  try {
    then.call(result, undefined, (error: unknown) => report(onError, error));
  } catch (error) {
    report(onError, error);
  }
}

function report(onError: ErrorSink, error: unknown): void {
  try {
    onError(error);
  } catch {
    // The sink itself failed (a throwing 'error' listener): nothing left to tell.
  }
}

/**
 * Calls `f(...args)` and returns its result, or `undefined` when it threw. A throw, and a
 * returned thenable that rejects, go to `onError`. Synchronous: for listeners and deciders.
 */
export function callUser<A extends unknown[], R>(
  f: (...args: A) => R,
  args: A,
  onError: ErrorSink,
  thisArg?: unknown,
): R | undefined {
  let result: R;
  try {
    result = f.apply(thisArg, args);
  } catch (error) {
    report(onError, error);
    return undefined;
  }
  absorb(result, onError);
  return result;
}

/**
 * Calls `f(...args)` and returns a real Promise of its result: a synchronous throw and a
 * thenable whose `then()` throws both become rejections. For factories and async deciders;
 * pair with a deadline when a never-settling result must not wedge the caller.
 */
export function callUserAsync<A extends unknown[], R>(
  f: (...args: A) => R | PromiseLike<R>,
  args: A,
  thisArg?: unknown,
): Promise<R> {
  return new Promise<R>((resolve) => resolve(f.apply(thisArg, args)));
}
