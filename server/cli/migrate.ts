/** `npm run db:migrate`: applies pending app and graphile-worker migrations, then exits. */
import { loadConfig } from "../config.js";
import { openDatabase } from "../db/open.js";
import { createLogger } from "../logger.js";

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL);
const database = await openDatabase(config, logger); // migrates on open
logger.info("database is up to date");
await database.close();
