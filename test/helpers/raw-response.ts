import { rawExchange } from './raw-http.js';

/** One HTTP/1.1 response parsed out of the bytes a raw socket collected (see `rawExchange`). */
export interface ParsedResponse {
  readonly status: number;
  /** Lower-case names; a repeated header keeps every value, in order. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
  /** The value of a header (the first one when repeated), or undefined. */
  header(name: string): string | undefined;
  /** The body's `code` when it is the gateway's JSON error shape, else undefined. */
  code(): string | undefined;
}

/**
 * Splits the text of a raw exchange into its responses, in order: for pipelined requests and for
 * error answers written straight to the socket, which no HTTP client would show as they were sent.
 * Bodies are framed by `Content-Length` or chunked encoding; a response with neither ends the text.
 */
export function parseResponses(text: string): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string[]> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      (headers[name] ??= []).push(line.slice(colon + 1).trim());
    }
    rest = rest.slice(end + 4);
    let body: string;
    const length = headers['content-length']?.[0];
    if (length !== undefined) {
      body = rest.slice(0, Number(length));
      rest = rest.slice(Number(length));
    } else if (headers['transfer-encoding']?.[0]?.toLowerCase() === 'chunked') {
      body = '';
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2);
        if (!(size > 0)) {
          rest = rest.slice(rest.indexOf('\r\n') + 2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else {
      body = rest;
      rest = '';
    }
    const status = Number(statusLine.split(' ')[1]);
    out.push({
      status,
      headers,
      body,
      header: (name) => headers[name.toLowerCase()]?.[0],
      code() {
        try {
          const parsed = JSON.parse(body) as { code?: unknown };
          return typeof parsed.code === 'string' ? parsed.code : undefined;
        } catch {
          return undefined;
        }
      },
    });
  }
  return out;
}

/**
 * Status of one `GET path` on a fresh connection that asks to be closed after it, or 0 unless a
 * complete answer came and the connection closed: "the gateway still serves" after an attack.
 */
export async function statusOfFreshGet(port: number, path = '/public/after'): Promise<number> {
  const { text, closed } = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { idleMs: 10_000 });
  const [res] = parseResponses(text);
  return closed && res !== undefined ? res.status : 0;
}
