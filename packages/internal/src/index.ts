// The shared core of every halfopen package. Private: tsup bundles it into each package
// (`noExternal`), so users never install it and each package keeps its own copy.
export {
  bool,
  bytes,
  checkOptions,
  count,
  describe,
  factor,
  fn,
  fraction,
  MAX_TIMER_MS,
  ms,
  oneOf,
  rate,
  signal,
  text,
  type MsCheck,
  type NumberCheck,
} from './options.js';
export { HalfopenError } from './errors.js';
export { callUser, callUserAsync, type ErrorSink, whenSettled } from './callbacks.js';
export { Lifecycle, type LongTimer, longTimeout } from './lifecycle.js';
export { channels, publish } from './diagnostics.js';
export { DeadlineHeap, type HeapItem } from './heap.js';
