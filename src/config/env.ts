/** The environment variables visible to `${VAR}` references; `process.env` in production. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Either the interpolated text, or the reasons it could not be built. */
export type Interpolation = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly errors: readonly string[] };

const REFERENCE_BODY = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?$/s;
const SINGLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/s;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in one string value; `$${` stands for a literal `${`.
 * As in POSIX shells, `:-` also applies when the variable is set but empty. A variable without
 * default that is unset is an error rather than an empty string: a missing upstream URL or issuer
 * must stop the start, not become a value that half-works. Every problem of the string is returned.
 */
export function interpolate(text: string, env: Env): Interpolation {
  let out = '';
  const errors: string[] = [];
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    const body = close === -1 ? undefined : REFERENCE_BODY.exec(text.slice(dollar + 2, close));
    if (body === undefined || body === null) {
      const shown = close === -1 ? text.slice(dollar) : text.slice(dollar, close + 1);
      errors.push(`malformed variable reference ${JSON.stringify(shown)}: write \${NAME} or \${NAME:-default}, or $\${ for a literal \${`);
      i = close === -1 ? text.length : close + 1;
      continue;
    }
    const [, name = '', fallback] = body;
    // Own properties only: `${constructor}` must not resolve to Object.prototype.constructor.
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (fallback !== undefined && (value === undefined || value === '')) out += fallback;
    else if (value !== undefined) out += value;
    else errors.push(`environment variable ${name} is not set`);
    i = close + 1;
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: out };
}

/** True when the whole text is one `${…}` reference (then a plain YAML scalar may become a number or boolean). */
export function isSingleReference(text: string): boolean {
  return SINGLE_REFERENCE.test(text);
}
