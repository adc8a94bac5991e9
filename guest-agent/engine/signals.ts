// Signal names as the API takes them: "SIGTERM", "TERM", "15", "sigkill".
import { constants } from 'node:os';
import { invalid } from '../errors.js';

const BY_NAME = constants.signals as Record<string, number>;

/** Returns the canonical "SIGNAME" form, or throws 400 for an unknown signal. */
export function parseSignal(value: string | number): string {
  const text = String(value).trim();
  if (/^\d+$/.test(text)) {
    const num = Number(text);
    const name = Object.keys(BY_NAME).find((n) => BY_NAME[n] === num);
    if (!name) throw invalid(`Invalid signal: ${text}`);
    return name;
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!(name in BY_NAME)) throw invalid(`Invalid signal: ${text}`);
  return name;
}

export function signalNumber(name: string): number {
  return BY_NAME[parseSignal(name)];
}
