/** The one transformer used by server and client, so Dates survive the wire. */
import superjson from "superjson";

export const transformer = superjson;
