// The incident's discovery code, in Node: a subscriber list appended to across an await
// (the lost append), and a watch loop that reads without a watch and re-arms afterwards.

/** subscribe reads the list, yields, then writes it back with its entry: a concurrent append is lost. */
export class NaiveTopic {
  subs = [];
  version = 0;
  constructor(yieldPoint = () => new Promise((r) => setTimeout(r, 1))) {
    this.yieldPoint = yieldPoint;
  }
  get size() {
    return this.subs.filter((s) => s.active).length;
  }
  async subscribe(fn) {
    const sub = { fn, active: true };
    const list = this.subs; // read
    await this.yieldPoint(); // another goroutine, or an await, runs here
    this.subs = [...list, sub]; // write: an append made in between is lost
    return {
      unsubscribe: () => {
        sub.active = false;
      },
    };
  }
  publish(value) {
    const version = ++this.version;
    for (const s of this.subs) {
      if (!s.active) continue;
      try {
        Promise.resolve(s.fn(value, version)).catch(() => {});
      } catch {}
    }
    return version;
  }
}

/** watch -> on event: read without a watch, read each child, then re-arm (its result thrown away). */
/** A failed read or a lost connection ends the loop silently, as it did in the incident. */
export function naiveWatchLoop(store, onList) {
  const onEvent = async () => {
    const { value } = await store.readUnwatched();
    await new Promise((r) => setTimeout(r, 3)); // "read each child"
    onList(value);
    store
      .arm()
      .then(onEvent)
      .catch(() => {}); // re-arm: changes since the unwatched read are missed
  };
  return onEvent().catch(() => {});
}
