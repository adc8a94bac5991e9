// The host side's one logger: debug lines only when BERTH_DEBUG is set (or
// setDebug(true)), so that every subprocess and state change can be traced.
let debugOn = Boolean(process.env.BERTH_DEBUG);

export function setDebug(on: boolean): void {
  debugOn = on;
}

export const log = {
  debug(msg: string, fields: Record<string, unknown> = {}): void {
    if (!debugOn) return;
    const extra = Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
    process.stderr.write(`[vm] ${msg}${extra}\n`);
  },
};
