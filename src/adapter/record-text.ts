/**
 * PostgreSQL's text form of a row (`record_out`, what `ROW(t.*)::text` gives): `(a,"b c",,"")`. A
 * NULL field is empty; a field is quoted when it is empty or holds a quote, a backslash, a
 * parenthesis, a comma or white space, and inside quotes `"` and `\` are doubled. Each field is the
 * column type's own text output, exactly what the wire's text format carries for it.
 */
export function parseRecordText(text: string): (string | null)[] {
  if (!text.startsWith('(') || !text.endsWith(')')) throw new Error('not a row in text form');
  const fields: (string | null)[] = [];
  let i = 1;
  for (;;) {
    const ch = text[i];
    if (ch === ',' || ch === ')') {
      fields.push(null);
    } else if (ch === '"') {
      let value = '';
      i++;
      for (;;) {
        const c = text[i];
        if (c === undefined) throw new Error('unterminated quoted field');
        if (c === '\\') {
          value += text[i + 1] ?? '';
          i += 2;
        } else if (c === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
          } else {
            i++;
            break;
          }
        } else {
          value += c;
          i++;
        }
      }
      fields.push(value);
    } else {
      let end = i;
      while (end < text.length && text[end] !== ',' && text[end] !== ')') end++;
      fields.push(text.slice(i, end));
      i = end;
    }
    const sep = text[i];
    if (sep === ')') {
      if (i !== text.length - 1) throw new Error('text after the end of the row');
      return fields;
    }
    if (sep !== ',') throw new Error('a field runs on without a comma');
    i++;
  }
}
