// Calling user code (listeners, onTimeout, accept, compare, factories). A throw, or a
// thenable that rejects or whose then() throws, is handed to `onError`, never to the caller,
// a timer or a loop that did nothing wrong.

/** Where a package reports a user callback's failure (its 'error' event or channel). */
export type ErrorSink = (error: unknown) => void;

function absorb(result: unknown, onError: ErrorSink): void {
  whenSettled(result, noop, onError);
}

function noop(): void {}

/**
 * Waits for what user code returned, if it is a thenable. Returns true when it is still
 * pending: `onSettled` will be called exactly once, later, when it fulfils or rejects (a
 * rejection goes to `onError` first). Returns false when there is nothing to wait for: not a
 * thenable, reading or calling its `then` threw (reported), or it settled inside `then()` (a
 * rejection reported); `onSettled` is then never called, so a caller looping over deliveries
 * does not recurse. Later calls of the thenable's callbacks are ignored.
 */
export function whenSettled(result: unknown, onSettled: () => void, onError: ErrorSink): boolean {
  if (result === null || (typeof result !== 'object' && typeof result !== 'function')) return false;
  let then: unknown;
  try {
    then = (result as { then?: unknown }).then;
  } catch (error) {
    report(onError, error);
    return false;
  }
  if (typeof then !== 'function') return false;
  let state = 0; // 0: inside then(), 1: pending, 2: settled
  const done = (error: unknown, failed: boolean): void => {
    if (state === 2) return;
    const later = state === 1;
    state = 2;
    if (failed) report(onError, error);
    if (later) onSettled();
  };
  try {
    then.call(
      result,
      () => done(undefined, false),
      (error: unknown) => done(error, true),
    );
  } catch (error) {
    done(error, true);
  }
  if (state === 2) return false;
  state = 1;
  return true;
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
