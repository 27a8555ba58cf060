// An in-process service registry with one-shot watches and a network delay on every read, like
// ZooKeeper: read() returns the children and arms a watch in one step.
export class Registry {
  members = [];
  version = 0;
  watchers = [];
  constructor(delayMs = 2) {
    this.delayMs = delayMs;
  }
  wait() {
    return new Promise((r) => setTimeout(r, this.delayMs));
  }
  arm() {
    return new Promise((res) => this.watchers.push(res));
  }
  async readUnwatched() {
    await this.wait();
    return { value: [...this.members], version: this.version };
  }
  /** The OneShotWatchSource @halfopen/rearm reads. */
  source() {
    return {
      compare: (a, b) => a - b,
      read: async () => {
        await this.wait();
        const r = { value: [...this.members], version: this.version, next: this.arm() };
        await this.wait();
        return r;
      },
    };
  }
  listeners = new Set();
  /** Calls `fn` after every change (how server.mjs serves watches over TCP). */
  on(fn) {
    this.listeners.add(fn);
  }
  off(fn) {
    this.listeners.delete(fn);
  }
  set(members) {
    this.members = [...members];
    this.version++;
    const w = this.watchers;
    this.watchers = [];
    for (const res of w) res({ kind: 'changed' });
    for (const fn of this.listeners) fn();
  }
}
