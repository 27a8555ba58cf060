import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { html } from './report.mjs';

const row = (title: string, naive: number[][], guarded: number[][]) => ({
  scenario: {
    title,
    primitive: '@halfopen/x',
    metric: { label: 'things', unit: '', of: (r: { n: number }) => r.n, better: 'lower' },
  },
  r: {
    naive: { summary: 'bad', suffered: true, n: 9, series: naive },
    guarded: { summary: 'good <ok>', survived: true, n: 0, series: guarded },
  },
  seconds: 1.5,
});

describe('demo report', () => {
  it('draws naive and guarded over time per incident, self-contained and escaped', () => {
    const page = html([
      row(
        '1. one',
        [
          [0, 0],
          [0.5, 4],
          [1, 9],
        ],
        [
          [0, 0],
          [1, 0],
        ],
      ),
      row(
        '2. two & more',
        [[0, 0]],
        [
          [0, 0],
          [2, 0],
        ],
      ),
    ]);
    expect(page.match(/<svg /g)).toHaveLength(2);
    expect(page.match(/<polyline /g)).toHaveLength(4);
    expect(page).toContain('#c0392b'); // naive
    expect(page).toContain('#27ae60'); // guarded
    expect(page).toContain('2. two &amp; more');
    expect(page).toContain('good &lt;ok&gt;');
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    // The naive line's last point is at the top right of the plot (t = max, value = max).
    const naive = page.match(/<polyline fill="none" stroke="#c0392b"[^>]*points="([^"]+)"/)![1]!;
    const [x0, y0] = naive.split(' ')[0]!.split(',').map(Number);
    const [x1, y1] = naive.split(' ').at(-1)!.split(',').map(Number);
    expect(x1).toBeGreaterThan(x0!);
    expect(y1).toBeLessThan(y0!);
  });
});
