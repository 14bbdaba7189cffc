import { createHash } from 'node:crypto';

// Deterministic, English-like content for the seed and the write scenarios: the same seed
// gives the same database on every machine, so runs are comparable.

/** mulberry32: tiny, fast, good enough for test data (not for anything secret). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Words of a contracts-and-reports corpus; common ones repeat so frequencies look Zipf-ish
// and full-text search sees both rare and frequent terms.
const COMMON = 'the of and to in a is that for on with as by this be are from at or an it not which will has have'.split(' ');
const DOMAIN = (
  'agreement contract party parties obligation liability indemnity warranty termination notice payment invoice ' +
  'schedule delivery service services supplier customer vendor license confidential information data privacy ' +
  'security breach incident report quarterly annual revenue forecast budget expense audit compliance regulation ' +
  'policy procedure risk mitigation assessment review approval signature effective date period renewal clause ' +
  'section appendix exhibit amendment dispute arbitration jurisdiction governing law employee contractor project ' +
  'milestone deliverable acceptance criteria performance metric threshold penalty credit refund insurance coverage ' +
  'property intellectual patent trademark copyright ownership transfer assignment subcontract approval manager ' +
  'director board meeting minutes resolution shareholder dividend capital investment loan interest rate maturity ' +
  'collateral guarantee tenant landlord lease premises maintenance repair utility deposit inventory warehouse ' +
  'shipment freight customs tariff export import purchase order quantity price discount currency exchange tax ' +
  'analysis summary recommendation finding evidence exposure remediation timeline owner status pending complete ' +
  'healthcare patient clinical trial protocol consent laboratory sample result safety adverse event monitoring ' +
  'software platform integration deployment outage availability uptime backup recovery encryption access control ' +
  'vulnerability patch release version customer support ticket escalation resolution satisfaction churn retention'
).split(' ');
const RARE = (
  'aardvark byzantine cryptic dulcimer ephemeral fjord gossamer halcyon iridescent juxtapose kaleidoscope labyrinth ' +
  'mellifluous nebulous obsidian palimpsest quixotic rhapsody serendipity talisman umbra vicissitude whimsical ' +
  'xylophone yonder zephyr'
).split(' ');

/**
 * Terms the search scenarios look up. Common: domain words and phrases, each in roughly half
 * of all documents (the GIN posting lists of every owner are long). Rare: words from RARE,
 * each in about one document in ten. S3 and B2 run both lists, so the report shows whether
 * a frequent term costs more than a rare one.
 */
export const COMMON_SEARCH_TERMS = [
  'contract', 'liability', 'termination notice', 'data privacy', '"governing law"', 'invoice -refund',
  'breach or incident', 'patent', 'clinical trial', 'encryption', 'quarterly revenue', 'warranty',
  'arbitration', 'lease premises', 'outage', 'shareholder dividend', 'customs tariff', 'audit',
];
export const RARE_SEARCH_TERMS = ['zephyr', 'halcyon', 'obsidian', 'palimpsest', 'quixotic', 'talisman', 'gossamer', 'fjord', 'labyrinth', 'umbra'];

export class TextGen {
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = prng(seed);
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.rand() * (max - min + 1));
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rand() * list.length)]!;
  }
  word(): string {
    const r = this.rand();
    if (r < 0.45) return this.pick(COMMON);
    if (r < 0.995) return this.pick(DOMAIN);
    return this.pick(RARE);
  }
  sentence(): string {
    const n = this.int(6, 22);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(this.word());
    const s = words.join(' ');
    return s[0]!.toUpperCase() + s.slice(1) + (this.rand() < 0.1 ? '?' : '.');
  }
  /** Roughly `bytes` of text in paragraphs. */
  text(bytes: number): string {
    const paragraphs: string[] = [];
    let size = 0;
    while (size < bytes) {
      const sentences: string[] = [];
      for (let i = this.int(3, 7); i > 0 && size < bytes; i--) {
        const s = this.sentence();
        sentences.push(s);
        size += s.length + 1;
      }
      paragraphs.push(sentences.join(' '));
    }
    return paragraphs.join('\n\n');
  }
  title(): string {
    const n = this.int(3, 8);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(this.pick(DOMAIN));
    return words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ');
  }
  tags(): string[] {
    const n = this.int(0, 4);
    const tags = new Set<string>();
    for (let i = 0; i < n; i++) tags.add(this.pick(DOMAIN));
    return [...tags];
  }
}

/** A UUID-shaped md5, computable in SQL too: md5(text)::uuid. Ids stay known without lookups. */
export function md5Uuid(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
export const userId = (u: number) => md5Uuid(`bench-user-${u}`);
export const documentId = (u: number, d: number) => md5Uuid(`bench-doc-${u}-${d}`);
export const userEmail = (u: number) => `bench-user-${u}@example.com`;
