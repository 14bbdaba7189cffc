import proxyAddr from '@fastify/proxy-addr';

// TRUST_PROXY: which peers may tell offbase the client's address in X-Forwarded-For. The
// request IP keys the per-IP rate limits and is written to audit rows and sessions, so
// trusting too much lets a client choose its own IP.
//
// - a hop count N: the N nearest proxies are trusted, and the nearest must connect from a
//   private address (RFC 1918 / unique-local, loopback or link-local: an ALB inside the VPC).
//   Behind one ALB, N=1 takes the address the ALB appended, whatever the client wrote to
//   the left of it. Fastify itself refuses a bare hop count (it cannot tell a proxy from a
//   client connecting directly); requiring a private nearest peer is that check, so a client
//   reaching the task from the internet never has its X-Forwarded-For believed.
// - a comma-separated list of proxy addresses or CIDRs (or proxy-addr's names loopback,
//   linklocal, uniquelocal): only peers in the list are trusted, hop by hop.
// - `true` (trust every hop) is refused: the left-most entry would always win, and the
//   client writes that one.

export type TrustProxy = false | { hops: number } | { addresses: string[] };

export const MAX_TRUSTED_HOPS = 10;

const PRIVATE_PEER = proxyAddr.compile(['loopback', 'linklocal', 'uniquelocal']);

/** TRUST_PROXY's value, or a one-sentence reason it is refused (the config names the variable). */
export function parseTrustProxy(raw: string): TrustProxy | { error: string } {
  const value = raw.trim();
  if (value === '' || value === 'false' || value === '0') return false;
  if (value === 'true') {
    return {
      error:
        'TRUST_PROXY=true is refused: it believes every X-Forwarded-For entry, so clients pick their own IP for rate limits and audit; set the number of proxies in front of offbase (1 behind an ALB) or their addresses/CIDRs',
    };
  }
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > MAX_TRUSTED_HOPS) return { error: `TRUST_PROXY must be a hop count from 0 to ${MAX_TRUSTED_HOPS} or a list of proxy addresses/CIDRs (got ${JSON.stringify(raw)})` };
    return { hops };
  }
  const addresses = value.split(',').map((a) => a.trim());
  try {
    if (addresses.some((a) => a === '')) throw new Error('empty entry');
    proxyAddr.compile(addresses);
  } catch {
    return { error: `TRUST_PROXY must be a hop count from 0 to ${MAX_TRUSTED_HOPS} or a comma-separated list of IP addresses/CIDRs (got ${JSON.stringify(raw)})` };
  }
  return { addresses };
}

/** Fastify's trustProxy option for a parsed TRUST_PROXY. */
export function fastifyTrustProxy(trust: TrustProxy): false | string[] | ((address: string, hop: number) => boolean) {
  if (trust === false) return false;
  if ('addresses' in trust) return trust.addresses;
  const { hops } = trust;
  return (address, hop) => hop < hops && (hop > 0 || PRIVATE_PEER(address, hop));
}
