/** Quotes an identifier as PostgreSQL's quote_ident does (both sides build SQL around names). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
