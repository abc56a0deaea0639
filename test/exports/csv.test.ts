// CSV cells: RFC 4180 quoting and formula-injection neutralising.
import { expect, test } from "vitest";
import { csvCell, csvRow } from "../../server/exports/csv.js";

test("plain values pass through; null is empty; dates are ISO; objects are JSON", () => {
  expect(csvCell("abc")).toBe("abc");
  expect(csvCell(42)).toBe("42");
  expect(csvCell(null)).toBe("");
  expect(csvCell(new Date("2026-01-02T03:04:05.000Z"))).toBe("2026-01-02T03:04:05.000Z");
  expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
});

test("commas, quotes, CR and LF are quoted with quotes doubled; rows end in CRLF", () => {
  expect(csvCell("a,b")).toBe('"a,b"');
  expect(csvCell('say "hi"')).toBe('"say ""hi"""');
  expect(csvCell("line1\nline2")).toBe('"line1\nline2"');
  expect(csvRow(["a", "b,c"])).toBe('a,"b,c"\r\n');
});

test.each(["=1+1", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x", '=HYPERLINK("http://x")'])(
  "a cell starting like a formula (%j) is neutralised with an apostrophe",
  (value) => {
    const cell = csvCell(value);
    const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replaceAll('""', '"') : cell;
    expect(unquoted.startsWith("'")).toBe(true);
    expect(unquoted.slice(1)).toBe(value);
  },
);
