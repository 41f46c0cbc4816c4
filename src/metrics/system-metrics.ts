/**
 * Host CPU, memory and disk readings with TorchServe's units and psutil's definitions
 * (ts/metrics/system_metrics.py, spec §10.2):
 *
 *   CPUUtilization     % busy across all cores since the previous reading (psutil.cpu_percent())
 *   MemoryUsed         MB, total - available
 *   MemoryAvailable    MB, available (Linux: MemAvailable, what os.freemem() reports)
 *   MemoryUtilization  %, used / total
 *   DiskUsage          GB used on the root file system
 *   DiskAvailable      GB free to unprivileged users (f_bavail)
 *   DiskUtilization    %, used / (used + available), as psutil.disk_usage().percent
 *
 * Percentages are rounded to one decimal like psutil's.
 */
import os from 'node:os';
import { statfs } from 'node:fs/promises';

export type SystemReading = {
  CPUUtilization: number;
  MemoryUsed: number;
  MemoryAvailable: number;
  MemoryUtilization: number;
  DiskUsage: number;
  DiskAvailable: number;
  DiskUtilization: number;
};

const MB = 1024 * 1024;
const GB = 1024 * 1024 * 1024;
const round1 = (x: number): number => Math.round(x * 10) / 10;

type CpuTimes = { idle: number; total: number };

function cpuTimes(): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

/** Keeps the previous CPU times so each reading covers the interval since the last one. */
export class SystemSampler {
  #previous: CpuTimes | undefined;
  readonly #diskPath: string;

  constructor(diskPath: string) {
    this.#diskPath = diskPath;
  }

  /** CPU busy % since the previous call (since boot on the first call). */
  cpuPercent(): number {
    const now = cpuTimes();
    const before = this.#previous ?? { idle: 0, total: 0 };
    this.#previous = now;
    const total = now.total - before.total;
    const idle = now.idle - before.idle;
    return total > 0 ? round1(Math.min(100, Math.max(0, (1 - idle / total) * 100))) : 0;
  }

  async read(): Promise<SystemReading> {
    const total = os.totalmem();
    const available = os.freemem();
    const fsStats = await statfs(this.#diskPath);
    const diskUsed = (fsStats.blocks - fsStats.bfree) * fsStats.bsize;
    const diskFree = fsStats.bavail * fsStats.bsize;
    return {
      CPUUtilization: this.cpuPercent(),
      MemoryUsed: (total - available) / MB,
      MemoryAvailable: available / MB,
      MemoryUtilization: total > 0 ? round1(((total - available) / total) * 100) : 0,
      DiskUsage: diskUsed / GB,
      DiskAvailable: diskFree / GB,
      DiskUtilization: diskUsed + diskFree > 0 ? round1((diskUsed / (diskUsed + diskFree)) * 100) : 0,
    };
  }
}
