// Which Origin values a handshake accepts (RFC 6455 sections 4.2.2 and 10.2). Browsers
// send Origin; other clients usually do not.

/** Allowed origins: exact strings (scheme://host[:port]), regular expressions, or a predicate. */
export type OriginRule = string | RegExp | ((origin: string) => boolean);

export function originAllowed(
  origin: string | undefined,
  rules: readonly OriginRule[] | OriginRule | undefined,
  requireOrigin = false,
): boolean {
  if (origin === undefined || origin === '') return !requireOrigin;
  if (rules === undefined) return true;
  const list = Array.isArray(rules) ? rules : [rules as OriginRule];
  const lower = origin.toLowerCase();
  return list.some((rule) => {
    if (typeof rule === 'string') return rule.toLowerCase() === lower;
    if (rule instanceof RegExp) {
      rule.lastIndex = 0; // a /g or /y rule would otherwise resume where the last test stopped
      return rule.test(origin);
    }
    return rule(origin);
  });
}
