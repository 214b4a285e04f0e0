import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that can carry a credential in anything we might ever log. The gateway logs tokens only
 * as fingerprints; redaction is the second line of defence should a header object or a request
 * body reach a log call (SPEC §6; security case 47).
 */
const REDACT_PATHS = [
  'authorization',
  'token',
  'secret',
  'clientSecret',
  'client_secret',
  'refreshToken',
  'refresh_token',
  'accessToken',
  'access_token',
  'password',
  '*.authorization',
  '*["x-api-key"]',
  '*["x-access-token"]',
  '*.token',
  '*.secret',
  '*.refreshToken',
  '*.accessToken',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
];

/** A pino JSON logger with credential redaction; `destination` lets tests capture the lines. */
export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'm2m-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
