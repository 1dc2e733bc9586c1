/**
 * Reads what the dynamic linker sees in a 64-bit little-endian ELF shared library: the symbols it
 * defines (.dynsym) and its RUNPATH. Only the headers and those two small tables are read, so a
 * 750 MB libtensorflow costs a few reads, and no binutils (nm, readelf) are needed.
 */
import { open, type FileHandle } from 'node:fs/promises';

const SHT_DYNSYM = 11;
const SHT_DYNAMIC = 6;
const DT_RUNPATH = 29;
const DT_RPATH = 15;
const SHN_UNDEF = 0;

export interface ElfDynamic {
  /** Symbols the library defines (exports), without their version suffix. */
  defined: Set<string>;
  /** Symbols the library needs from others. */
  undefined: Set<string>;
  /** DT_RUNPATH (or DT_RPATH) entries, `$ORIGIN` unexpanded. */
  runpath: string[];
}

interface Section {
  type: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, offset);
  if (bytesRead !== length) throw new Error(`short read at ${offset} (${bytesRead} of ${length} bytes)`);
  return buf;
}

function cString(table: Buffer, at: number): string {
  const end = table.indexOf(0, at);
  return table.toString('latin1', at, end < 0 ? table.length : end);
}

/** Parses the dynamic symbol table and RUNPATH of `file`; throws on anything but ELF64 LE. */
export async function readElfDynamic(file: string): Promise<ElfDynamic> {
  const fh = await open(file, 'r');
  try {
    const h = await readAt(fh, 0, 64);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
    if (h[4] !== 2 || h[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
    const shoff = Number(h.readBigUInt64LE(0x28));
    const shentsize = h.readUInt16LE(0x3a);
    const shnum = h.readUInt16LE(0x3c);
    const table = await readAt(fh, shoff, shentsize * shnum);
    const sections: Section[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = i * shentsize;
      sections.push({
        type: table.readUInt32LE(o + 4), offset: Number(table.readBigUInt64LE(o + 0x18)), size: Number(table.readBigUInt64LE(o + 0x20)),
        link: table.readUInt32LE(o + 0x28), entsize: Number(table.readBigUInt64LE(o + 0x38)),
      });
    }
    const out: ElfDynamic = { defined: new Set(), undefined: new Set(), runpath: [] };
    const strings = async (s: Section | undefined): Promise<Buffer> => (s ? readAt(fh, s.offset, s.size) : Buffer.alloc(0));
    const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
    if (dynsym) {
      const names = await strings(sections[dynsym.link]);
      const syms = await readAt(fh, dynsym.offset, dynsym.size);
      const entsize = dynsym.entsize || 24;
      for (let o = entsize; o + entsize <= syms.length; o += entsize) {
        const name = cString(names, syms.readUInt32LE(o));
        if (name === '') continue;
        (syms.readUInt16LE(o + 6) === SHN_UNDEF ? out.undefined : out.defined).add(name);
      }
    }
    const dynamic = sections.find((s) => s.type === SHT_DYNAMIC);
    if (dynamic) {
      const names = await strings(sections[dynamic.link]);
      const dyn = await readAt(fh, dynamic.offset, dynamic.size);
      for (let o = 0; o + 16 <= dyn.length; o += 16) {
        const tag = Number(dyn.readBigInt64LE(o));
        if (tag === DT_RUNPATH || tag === DT_RPATH) out.runpath.push(...cString(names, Number(dyn.readBigUInt64LE(o + 8))).split(':').filter(Boolean));
      }
    }
    return out;
  } finally {
    await fh.close();
  }
}
