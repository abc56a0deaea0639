/**
 * What `npm run dev` prints once it is up: where to go, the demo account, an
 * API token and when it expires, and a warning when the dev server is
 * reachable from other machines while that demo account exists.
 */

/** Whether HOST reaches this machine only (so the printed demo password is no risk). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface DevBannerInput {
  url: string;
  host: string;
  email: string;
  password: string;
  token: string;
  tokenExpiresAt: Date;
}

export function devBanner({ url, host, email, password, token, tokenExpiresAt }: DevBannerInput): string {
  const exposed = isLoopbackHost(host)
    ? []
    : [
        `  WARNING: listening on ${host}, not loopback: anyone who can reach this machine`,
        `  can sign in as the demo admin (${email} / ${password}).`,
        "  Unset HOST (development binds 127.0.0.1) unless you mean to share it.",
        "",
      ];
  return [
    "",
    `  Typed Jobs: ${url}`,
    ...exposed,
    `  Sign in as ${email} / ${password} (admin)`,
    `  API token for the same account (Authorization: Bearer ...), valid until ${tokenExpiresAt.toISOString()}:`,
    `  ${token}`,
    "",
    "",
  ].join("\n");
}
