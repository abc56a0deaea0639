/** The real network: system DNS and the pinned HTTP connector. */
import type { Network } from "../tasks/types.js";
import { httpConnector } from "./http.js";
import { systemResolver } from "./ssrf.js";

export const systemNetwork: Network = { resolve: systemResolver, connect: httpConnector };
