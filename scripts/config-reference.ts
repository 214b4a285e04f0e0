/** Prints docs/configuration.md, the configuration reference (`npm run docs:config` writes it). */
import { configReference } from '../src/config/reference.js';

process.stdout.write(configReference());
