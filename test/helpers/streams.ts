// Reading a whole stream in tests.
export async function readAll(s: NodeJS.ReadableStream | null): Promise<string> {
  if (!s) return '';
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(parts).toString('utf8');
}
