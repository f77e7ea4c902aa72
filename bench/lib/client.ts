/** The orchestrator side of the JSON-lines driver protocol (see harness.mjs). */

export interface DriverInfo {
  version: string;
  runtime: string;
  settings: Record<string, unknown>;
  schemas: string[] | null;
  /** set when this system cannot run here (e.g. the installed package lacks a backend) */
  unsupported?: string;
}

// deno-lint-ignore no-explicit-any
export type Reply = Record<string, any> & { ok: boolean; error?: string };

export class DriverProcess {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #exited = false;
  #stderrTail: string[] = [];
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    opts: { cwd: string; env?: Record<string, string>; log?: (line: string) => void },
  ) {
    this.#child = new Deno.Command(command, {
      args,
      cwd: opts.cwd,
      env: opts.env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.exited = this.#child.status.then((s) => {
      this.#exited = true;
      const err = new Error(
        `${name} driver exited (code ${s.code}); last stderr:\n${this.#stderrTail.join("\n")}`,
      );
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      return s;
    });
    this.#readLines(this.#child.stdout, (line) => this.#onLine(line));
    this.#readLines(this.#child.stderr, (line) => {
      this.#stderrTail.push(line);
      if (this.#stderrTail.length > 30) this.#stderrTail.shift();
      opts.log?.(line);
    });
  }

  async #readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) onLine(buf);
  }

  #onLine(line: string) {
    let msg: Reply & { id?: number };
    try {
      msg = JSON.parse(line);
    } catch {
      this.#stderrTail.push(`[stdout] ${line}`); // stray output from a library
      return;
    }
    const p = msg.id == null ? undefined : this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id!);
    if (msg.ok) p.resolve(msg);
    else p.reject(new Error(`${this.name}: ${msg.error}`));
  }

  /** Send one command and wait for its reply; rejects on `ok:false`, exit or timeout. */
  call(cmd: string, params: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<Reply> {
    if (this.#exited) {
      return Promise.reject(new Error(`${this.name} driver is not running`));
    }
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const line = new TextEncoder().encode(JSON.stringify({ id, cmd, ...params }) + "\n");
      this.#writer.write(line).catch((e) => {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  stderrTail(): string {
    return this.#stderrTail.join("\n");
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    try {
      await this.call("close", {}, 15_000);
    } catch { /* fall through to kill */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    try {
      await this.#writer.close();
    } catch { /* already closed */ }
    await this.exited;
    clearTimeout(timer);
  }
}
