import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, type MockInstance, vi } from 'vitest';

/**
 * A socket-like value: an emitter with end/destroy that records what happened to it. With
 * `closesOnEnd`, its peer closes politely 5 ms (fake time) after our end().
 */
export class FakeConn extends EventEmitter {
  ended = 0;
  destroyed = false;
  constructor(
    readonly id = '',
    readonly closesOnEnd = false,
  ) {
    super();
  }
  end() {
    this.ended++;
    if (this.closesOnEnd) setTimeout(() => this.destroy(), 5);
  }
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

/**
 * Fake timers from time 0 for every test of the file, and process warnings (where the map
 * reports callback failures) captured instead of printed. Returns the warning spy's getter.
 */
export function fakeTimeQuietWarnings(): () => MockInstance<typeof process.emitWarning> {
  let warn: MockInstance<typeof process.emitWarning>;
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
    warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  });
  afterEach(() => {
    warn.mockRestore();
    vi.useRealTimers();
  });
  return () => warn;
}
