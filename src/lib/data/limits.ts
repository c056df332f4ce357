// The sizes a data set's pieces may have, checked before anything is allocated for them: one data
// file (by its size on disk, File.size or the Hub listing, before it is read) and one cell (a
// text, before it is tokenized). Without dependencies, so the page's main thread can check a
// picked file without loading the parsers. Not the parsing (parse.ts) or the row checks
// (validate.ts), which apply these.

/**
 * The largest data file read: 500 MiB. A text file is decoded into one string, and V8's strings
 * stop at 2^29 − 24 UTF-16 units (~512 Mi; a UTF-8 file of n bytes decodes to at most n units),
 * past which decoding throws a RangeError that names nothing. The Hub's own shards are smaller
 * (datasets' push_to_hub cuts them at 500 MB), and a larger data set comes as several files
 * (data/train-00000-of-00002.parquet …), each checked on its own.
 */
export const MAX_DATA_FILE_BYTES = 500 * 2 ** 20;

/**
 * The longest text cell: 1,000,000 characters. The longest model tabtune takes reads 8,192 tokens
 * (bge-m3), some 30,000–40,000 characters of prose; a cell 25× that is no text anyone embeds but a
 * whole document or a blob pasted into a column, and every token past the model's length is cut.
 */
export const MAX_CELL_CHARS = 1_000_000;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;

/** Why a data file of `bytes` is refused (its size and the limit, and what to do), or null. */
export function dataFileSizeProblem(bytes: number): string | null {
  if (bytes <= MAX_DATA_FILE_BYTES) return null;
  return `the file is ${mib(bytes)} (${bytes} bytes), over the ${mib(MAX_DATA_FILE_BYTES)} limit for one data file; split it into several files (e.g. data/train-00000-of-00002.jsonl and data/train-00001-of-00002.jsonl in one folder)`;
}
