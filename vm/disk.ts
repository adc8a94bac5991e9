// The VM's data disk: a sparse qcow2 made and inspected with qemu-img.
import { existsSync } from 'node:fs';
import { exec } from './util/exec.js';

export interface DiskInfo {
  virtualSize: number;
  actualSize: number;
  format: string;
}

export async function diskInfo(file: string): Promise<DiskInfo> {
  const r = await exec('qemu-img', ['info', '--output=json', '-U', file]);
  const j = JSON.parse(r.stdout) as { 'virtual-size': number; 'actual-size': number; format: string };
  return { virtualSize: j['virtual-size'], actualSize: j['actual-size'], format: j.format };
}

/** Makes the disk if it is missing, grows it if the setting grew (never shrinks). */
export async function ensureDisk(file: string, sizeGiB: number): Promise<void> {
  const want = sizeGiB * 1024 ** 3;
  if (!existsSync(file)) {
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeGiB}G`]);
    return;
  }
  let info: DiskInfo;
  try {
    info = await diskInfo(file);
  } catch (err) {
    throw new Error(
      `the VM disk ${file} cannot be read (${(err as Error).message}); \`berth vm reset\` makes a new one`,
    );
  }
  if (info.format !== 'qcow2')
    throw new Error(
      `the VM disk ${file} is not a qcow2 image (qemu-img reads it as ${info.format}): it is damaged or not Berth's; \`berth vm reset\` makes a new one`,
    );
  if (info.virtualSize < want) await exec('qemu-img', ['resize', '-q', file, `${sizeGiB}G`]);
}
