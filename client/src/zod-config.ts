// Imported first by main.tsx. zod compiles fast parsers with `new Function`
// when it may; under the production Content-Security-Policy (script-src
// 'self') its probe for that is reported as a violation even though zod
// catches it. Jitless parsing is the same validation, without the probe.
import { z } from "zod";

z.config({ jitless: true });
