// Column alignment as Go's text/tabwriter does it with the docker CLI's
// settings (minwidth 10, or 20 for top; tabwidth 1, padding 3, pad with spaces): the CLI's
// tables line up column for column with docker's.
const PADDING = 3;

const width = (s: string) => [...s].length;

/** Aligns tab-separated cells; a line's last cell is not a column (it is never padded). */
export function alignColumns(text: string, minWidth = 10): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const widths: number[][] = lines.map(() => []);
  // Go's tabwriter: a column is a block of consecutive lines that have a cell
  // there; its width is the widest cell plus padding, at least minwidth.
  const format = (from: number, to: number, col: number) => {
    let start = from;
    while (start < to) {
      if (lines[start].length - 1 <= col) {
        start++;
        continue;
      }
      let end = start;
      let w = minWidth;
      while (end < to && lines[end].length - 1 > col) {
        w = Math.max(w, width(lines[end][col]) + PADDING);
        end++;
      }
      for (let i = start; i < end; i++) widths[i][col] = w;
      format(start, end, col + 1);
      start = end;
    }
  };
  format(0, lines.length, 0);
  return lines
    .map((cells, i) =>
      cells.map((c, j) => (j < cells.length - 1 ? c + ' '.repeat(widths[i][j] - width(c)) : c)).join(''),
    )
    .join('\n');
}
