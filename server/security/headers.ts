/**
 * server/security/ (foundation; this is its main file) owns the HTTP policies: response headers (here), the
 * cross-site guard, the dev-server file guard, the raw-input shape check and TRUST_PROXY. Must not: import
 * anything above the foundation layer (no database, services or tRPC): each is a pure check or a middleware.
 *
 * Response headers for production: a Content-Security-Policy that allows only
 * the app's own scripts and no framing, no MIME sniffing, no Referer (signed
 * export links travel in URLs), and HSTS on secure requests. Development
 * skips them: Vite's hot reload injects inline scripts.
 */
import type express from "express";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // React sets style properties through the DOM (allowed); this covers style attributes in markup.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function securityHeaders(): express.RequestHandler {
  return (req, res, next) => {
    res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    // req.secure: TLS here, or a trusted proxy's X-Forwarded-Proto (TRUST_PROXY).
    if (req.secure) res.setHeader("Strict-Transport-Security", "max-age=31536000");
    next();
  };
}
