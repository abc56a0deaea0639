/** How webhook deliveries reach the network, and the real one: system DNS and the pinned HTTP connector. */
import { type Connector, httpConnector } from "./http.js";
import { type Resolver, systemResolver } from "./ssrf.js";

/** Tests inject recording fakes to prove refusals. */
export interface Network {
  resolve: Resolver;
  connect: Connector;
}

export const systemNetwork: Network = { resolve: systemResolver, connect: httpConnector };
