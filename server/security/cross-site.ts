/**
 * Cross-site request forgery guard for mutations authenticated by the session
 * cookie (SameSite=Lax still lets a sibling port or subdomain of the same site
 * post with it). A mutation is refused before it runs when the browser says it
 * came from elsewhere: an Origin other than the app's, or Sec-Fetch-Site
 * `cross-site` / `same-site`; and a body that is not application/json (what an
 * HTML form or a "simple" cross-origin fetch can send) is refused with 415.
 * Calls with a bearer token are exempt: a browser never attaches one on its own.
 */
import type { IncomingHttpHeaders } from "node:http";

export interface MutationRequest {
  headers: IncomingHttpHeaders;
  /** The request's scheme as Express sees it (X-Forwarded-Proto only from a trusted proxy). */
  protocol?: string;
}

export interface Refusal {
  code: "FORBIDDEN" | "UNSUPPORTED_MEDIA_TYPE";
  message: string;
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

export interface OriginSettings {
  publicUrl: string | undefined;
  /**
   * Development also accepts the request's own origin when it names this
   * machine by loopback (localhost, 127.x, [::1]): `npm run dev` sets
   * PUBLIC_URL to http://localhost:<port> for links, and a newcomer may well
   * open http://127.0.0.1:<port>. A name that merely resolves to loopback
   * (DNS rebinding) is still refused.
   */
  development: boolean;
}

function requestOrigin(request: MutationRequest): string | undefined {
  const host = request.headers.host;
  return host ? originOf(`${request.protocol ?? "http"}://${host}`) : undefined;
}

function isLoopbackOrigin(origin: string): boolean {
  const { hostname } = new URL(origin);
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The app's origin: PUBLIC_URL's when set, else the request's own scheme and host. */
export function appOrigin(request: MutationRequest, publicUrl: string | undefined): string | undefined {
  return publicUrl ? originOf(publicUrl) : requestOrigin(request);
}

function isAppOrigin(origin: string, request: MutationRequest, settings: OriginSettings): boolean {
  if (origin === appOrigin(request, settings.publicUrl)) return true;
  const own = requestOrigin(request);
  return settings.development && own !== undefined && origin === own && isLoopbackOrigin(own);
}

function hasBearer(headers: IncomingHttpHeaders): boolean {
  return /^Bearer\s+\S+$/i.test(headers.authorization ?? "");
}

export function isJsonContentType(contentType: string | undefined): boolean {
  return contentType?.split(";", 1)[0]?.trim().toLowerCase() === "application/json";
}

/** Why this mutation request must not run, or undefined when it may. */
export function refuseCrossSiteMutation(request: MutationRequest, settings: OriginSettings): Refusal | undefined {
  const { headers } = request;
  if (hasBearer(headers)) return undefined;
  const site = headers["sec-fetch-site"];
  if (site === "cross-site" || site === "same-site") {
    return { code: "FORBIDDEN", message: `Cross-site request refused (Sec-Fetch-Site: ${site})` };
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    const normalized = originOf(origin);
    if (normalized === undefined || !isAppOrigin(normalized, request, settings)) {
      const expected = appOrigin(request, settings.publicUrl);
      return {
        code: "FORBIDDEN",
        message: `Cross-site request refused: Origin ${origin} is not ${expected ?? "this app"}`,
      };
    }
  }
  if (!isJsonContentType(headers["content-type"])) {
    return { code: "UNSUPPORTED_MEDIA_TYPE", message: "A mutation's body must be application/json" };
  }
  return undefined;
}
