export const TERMINAL_ADDON_SOURCE: string;
export const TERMINAL_ADDON_OUT: string;
export function nodeApiHeaders(): string;
export function nativeAddonArgs(source: string, out: string): string[];
