/**
 * CSV per RFC 4180 (CRLF rows; a field with a comma, quote, CR or LF is quoted,
 * quotes doubled), made safe to open in a spreadsheet: a cell that starts with
 * = + - @ (or a tab or CR, which some spreadsheets skip over) is prefixed with
 * an apostrophe so it is not run as a formula.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text =
    value instanceof Date ? value.toISOString() : typeof value === "object" ? JSON.stringify(value) : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(",")}\r\n`;
}
