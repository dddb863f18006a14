/**
 * Imported first by every entry point of the package: on a Node.js that is too old, importing dbbridge
 * fails here with one clear error instead of later with a missing built-in.
 */
import { assertNodeVersion } from './node-version.js';

assertNodeVersion();
