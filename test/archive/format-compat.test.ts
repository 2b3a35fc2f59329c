// Archives written before format 3 still verify and replay with the crypto-aware readers (T14, first half).
// The CARs were written by the code of 6fdf593 (format1.car: built block by block as the format 1 writer
// did; format2.car: that commit's writer); their replay result CIDs were computed by that code too.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { verifyCar } from '../../archive/car.js';
import { demo, replay } from './helpers.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const cases = [
  { car: 'format1.car', root: 'bafyreifuuftu6ug2a6rayncv33dcwmu72vwxcd4qham4574q3alu5ygwjq', result: 'bafyreihxwnqimhxidyxripmijtehdfcnf6s4q4ptpr6btwky5uoqxo2rte' },
  { car: 'format2.car', root: 'bafyreiemgd5gvbwhxpp65wgmf7i43mmp7v2yquuye3kem3t7nvdgt6juya', result: 'bafyreigwilzy2xs7lyfa4yvb6a4ibiflc4blryfpjt3fthlosl67utetlq' },
];

describe('format 1 and 2 archives', () => {
  for (const c of cases) {
    it(`${c.car} verifies and replays to the result CID it had before format 3`, async () => {
      const v = await verifyCar(join(fixtures, c.car));
      expect(v).toMatchObject({ ok: true, root: c.root, unreachable: [] });
      const r = await replay(join(fixtures, c.car), await demo());
      expect(r.cid).toBe(c.result);
      expect(r.archive.unreadable().learners).toBe(0);
    });
  }
});
