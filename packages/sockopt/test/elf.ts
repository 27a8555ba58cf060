// A small ELF64 reader for the tests: enough to check a binary we cannot run here (arm64, musl)
// is what its folder says: class, machine, the libraries it needs, the glibc versions it asks
// for and the symbols it exports and leaves undefined.
import { readFileSync } from 'node:fs';

export interface ElfSummary {
  class64: boolean;
  littleEndian: boolean;
  /** ET_DYN (3) for a shared object. */
  type: number;
  /** 62 = x86-64, 183 = AArch64. */
  machine: number;
  /** The PT_INTERP path, if any (a shared object has none). */
  interpreter: string | undefined;
  needed: string[];
  /** Version names required from other objects (GLIBC_2.17, ...): .gnu.version_r. */
  versionsNeeded: string[];
  /** Dynamic symbols defined here (exported). */
  defined: string[];
  /** Dynamic symbols left for the loader to resolve. */
  undefinedSymbols: string[];
}

export function readElf(file: string): ElfSummary {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  const class64 = b[4] === 2;
  const littleEndian = b[5] === 1;
  if (!class64 || !littleEndian) throw new Error(`${file}: only 64-bit little-endian ELF is read`);
  const u16 = (o: number) => b.readUInt16LE(o);
  const u32 = (o: number) => b.readUInt32LE(o);
  const u64 = (o: number) => Number(b.readBigUInt64LE(o));
  const cstr = (o: number) => b.toString('latin1', o, b.indexOf(0, o));

  const phoff = u64(0x20);
  const shoff = u64(0x28);
  const phentsize = u16(0x36);
  const phnum = u16(0x38);
  const shentsize = u16(0x3a);
  const shnum = u16(0x3c);

  let interpreter: string | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (u32(p) === 3) interpreter = cstr(u64(p + 8));
  }

  const sections = Array.from({ length: shnum }, (_, i) => {
    const s = shoff + i * shentsize;
    return { type: u32(s + 4), offset: u64(s + 0x18), size: u64(s + 0x20), link: u32(s + 0x28) };
  });
  const strtabOf = (s: { link: number }) => sections[s.link]?.offset ?? 0;

  const needed: string[] = [];
  const dynamic = sections.find((s) => s.type === 6); // SHT_DYNAMIC
  if (dynamic) {
    for (let o = dynamic.offset; o < dynamic.offset + dynamic.size; o += 16) {
      const tag = u64(o);
      if (tag === 0) break;
      if (tag === 1) needed.push(cstr(strtabOf(dynamic) + u64(o + 8))); // DT_NEEDED
    }
  }

  const versionsNeeded: string[] = [];
  const verneed = sections.find((s) => s.type === 0x6ffffffe); // SHT_GNU_verneed
  if (verneed) {
    const str = strtabOf(verneed);
    let vn = verneed.offset;
    for (;;) {
      let aux = vn + u32(vn + 8);
      for (let j = 0; j < u16(vn + 2); j++) {
        versionsNeeded.push(cstr(str + u32(aux + 8)));
        aux += u32(aux + 12);
      }
      if (u32(vn + 12) === 0) break;
      vn += u32(vn + 12);
    }
  }

  const defined: string[] = [];
  const undefinedSymbols: string[] = [];
  const dynsym = sections.find((s) => s.type === 11); // SHT_DYNSYM
  if (dynsym) {
    const str = strtabOf(dynsym);
    for (let o = dynsym.offset + 24; o < dynsym.offset + dynsym.size; o += 24) {
      const name = cstr(str + u32(o));
      if (name === '') continue;
      (u16(o + 6) === 0 ? undefinedSymbols : defined).push(name);
    }
  }

  return {
    class64,
    littleEndian,
    type: u16(0x10),
    machine: u16(0x12),
    interpreter,
    needed,
    versionsNeeded,
    defined,
    undefinedSymbols,
  };
}
