import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseProcNetTcp, TCP_STATES } from '../src/index.js';

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
const row = fc.record({
  localPort: fc.integer({ min: 0, max: 65535 }),
  remotePort: fc.integer({ min: 0, max: 65535 }),
  state: fc.constantFrom(...TCP_STATES),
  v6: fc.boolean(),
});

describe('parseProcNetTcp (property)', () => {
  it('reads back every row the kernel format can hold, in order', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 30 }), (rows) => {
        const addr = (v6: boolean) => (v6 ? '00000000000000000000000001000000' : '0100007F');
        const text = [
          '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
          ...rows.map(
            (r, i) =>
              `${String(i).padStart(4)}: ${addr(r.v6)}:${hex(r.localPort, 4)} ${addr(r.v6)}:${hex(r.remotePort, 4)} ${hex(TCP_STATES.indexOf(r.state) + 1, 2)} 00000000:00000000 00:00000000 00000000     0        0 ${i} 1 0 20 4 30 10 -1`,
          ),
        ].join('\n');
        expect(parseProcNetTcp(text)).toEqual(
          rows.map(({ v6: _, ...r }, i) => ({ ...r, inode: i })),
        );
      }),
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        for (const r of parseProcNetTcp(text)) expect(TCP_STATES).toContain(r.state);
      }),
    );
  });
});
