/**
 * Password hashing with scrypt from node:crypto (no native dependency):
 * "scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>", compared in constant time. Every
 * derivation in the process runs through `derivations`, which caps how many
 * run at once and counts them.
 */

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { MAX_PASSWORD_HASH_N } from "../config.js";

export interface ScryptParams {
  n: number;
  r: number;
  p: number;
}

const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const SALT_BYTES = 16;
const MIB = 1024 * 1024;

/** Derivations one process runs at once: each holds 128 MiB and one of libuv's 4 threads, which DNS lookups share. */
export const MAX_CONCURRENT_DERIVATIONS = 2;

/** The parameters a new hash gets. */
export function currentParams(n: number): ScryptParams {
  return { n, r: R, p: P };
}

function nodeScrypt(password: string, salt: Buffer, { n, r, p }: ScryptParams): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes: 128 MiB at 2^17; at least 192 MiB of headroom.
  const maxmem = Math.max(192 * MIB, 2 * 128 * n * r);
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { N: n, r, p, maxmem }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/**
 * The process's scrypt derivations. Slots bound how many run at once: a
 * sign-in takes one with `tryAcquire` (none free: it is refused, not queued);
 * hashing a new password waits for one with `acquire`. `started` and `last`
 * let tests count derivations and see their parameters; `implementation` is
 * replaceable so tests can hold derivations open.
 */
export class Derivations {
  running = 0;
  started = 0;
  last: ScryptParams | undefined;
  implementation: (password: string, salt: Buffer, params: ScryptParams) => Promise<Buffer> = nodeScrypt;
  readonly #waiting: (() => void)[] = [];

  constructor(readonly max: number) {}

  /** A slot's release function, or undefined when all slots are taken. */
  tryAcquire(): (() => void) | undefined {
    if (this.running >= this.max) return undefined;
    this.running += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      this.#waiting.shift()?.();
    };
  }

  /** Waits for a slot (for hashing a new password, never for a sign-in). */
  async acquire(): Promise<() => void> {
    for (;;) {
      const release = this.tryAcquire();
      if (release) return release;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** One derivation; the caller holds a slot. */
  derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
    this.started += 1;
    this.last = { ...params };
    return this.implementation(password, salt, params);
  }
}

export const derivations = new Derivations(MAX_CONCURRENT_DERIVATIONS);

/** Hashes with the current parameters; the caller holds a derivation slot. */
export async function hashPasswordInSlot(password: string, n: number): Promise<string> {
  const params = currentParams(n);
  const salt = randomBytes(SALT_BYTES);
  const key = await derivations.derive(password, salt, params);
  return ["scrypt", params.n, params.r, params.p, salt.toString("base64"), key.toString("base64")].join("$");
}

/** Hashes a new password at N = `n` (PASSWORD_HASH_N), waiting for a derivation slot. */
export async function hashPassword(password: string, n: number): Promise<string> {
  const release = await derivations.acquire();
  try {
    return await hashPasswordInSlot(password, n);
  } finally {
    release();
  }
}

interface StoredHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

function parseStored(stored: string | null): StoredHash | undefined {
  const parts = (stored ?? "").split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const powerOfTwo = Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;
  if (!powerOfTwo || n > MAX_PASSWORD_HASH_N || !Number.isInteger(r) || !Number.isInteger(p)) return undefined;
  if (r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const hash = Buffer.from(parts[5] ?? "", "base64");
  if (hash.length === 0) return undefined;
  return { params: { n, r, p }, salt: Buffer.from(parts[4] ?? "", "base64"), hash };
}

export interface Verification {
  valid: boolean;
  /** The stored hash was made with other parameters than `n`'s: hash the password again. */
  stale: boolean;
}

/**
 * Checks a password against a stored hash; the caller holds a derivation slot.
 * No hash (an unknown account, one without a password, or an unreadable hash)
 * still runs one derivation with the current parameters, as a wrong password
 * against a current hash does, so the answer takes as long and costs as much.
 */
export async function verifyPasswordInSlot(password: string, stored: string | null, n: number): Promise<Verification> {
  const parsed = parseStored(stored);
  if (!parsed) {
    await derivations.derive(password, randomBytes(SALT_BYTES), currentParams(n));
    return { valid: false, stale: false };
  }
  const actual = await derivations.derive(password, parsed.salt, parsed.params);
  const valid = actual.length === parsed.hash.length && timingSafeEqual(actual, parsed.hash);
  const current = currentParams(n);
  const stale = parsed.params.n !== current.n || parsed.params.r !== current.r || parsed.params.p !== current.p;
  // A wrong password against an older, cheaper hash costs at least what an
  // unknown account costs, or its quick answer would tell the account exists.
  if (!valid && stale) await derivations.derive(password, randomBytes(SALT_BYTES), current);
  return { valid, stale };
}
