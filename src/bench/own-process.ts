// Benchmarks that compare settings run each one in a child process of its own, one after another:
// a process keeps state a comparison must not share (ONNX Runtime's flush-to-zero flag is set once
// per process, the heap a burst of decodes grew), and two runs at once would share the cores.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { projectRoot } from '../../core/project-root.js';

/** `facegate bench ...args --json` in a child (the compiled CLI), and the JSON report it prints. */
export async function benchInOwnProcess<T>(args: readonly string[]): Promise<T> {
  const cli = path.join(projectRoot(), 'dist', 'src', 'cli', 'main.js');
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'bench', ...args, '--json'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as T;
}
