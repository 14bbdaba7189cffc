import type { SessionUser } from './claims.js';

/**
 * Access tokens of another issuer that offbase accepts besides its own, e.g. the old
 * Supabase project's during a cut-over (src/features/compat/supabase-tokens/). A verifier
 * is consulted only for a token offbase's own keys do not verify.
 */
export interface TokenVerifier {
  readonly name: string;
  /** The user the token signs in as, or null when it is not a valid token of this issuer or the user may no longer sign in. */
  verify(token: string): Promise<SessionUser | null>;
  /** Whether the token is validly signed and unexpired, whoever it names: for error wording only. */
  recognizes(token: string): boolean | Promise<boolean>;
}

/** The verifiers plugged into authentication. */
export class TokenVerifiers {
  readonly #verifiers: TokenVerifier[] = [];

  add(verifier: TokenVerifier): void {
    this.#verifiers.push(verifier);
  }

  /** The first verifier's user for the token, or null. */
  async verify(token: string): Promise<SessionUser | null> {
    for (const verifier of this.#verifiers) {
      const user = await verifier.verify(token);
      if (user) return user;
    }
    return null;
  }

  async recognizes(token: string): Promise<boolean> {
    for (const verifier of this.#verifiers) if (await verifier.recognizes(token)) return true;
    return false;
  }
}
