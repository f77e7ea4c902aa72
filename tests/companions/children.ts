/**
 * Spawning tests/companions/child.ts as real second processes (not a test file).
 */
const encoder = new TextEncoder();

/** One child process and the JSON lines it printed. */
export class Child {
  readonly lines: Record<string, unknown>[] = [];
  readonly #proc: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #done: Promise<void>;
  #wake: (() => void)[] = [];

  constructor(args: string[]) {
    this.#proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./child.ts", import.meta.url).pathname, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.#proc.stdin.getWriter();
    this.#done = this.#read();
  }

  async #read(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of this.#proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) this.lines.push(JSON.parse(line));
        for (const w of this.#wake.splice(0)) w();
      }
    }
    for (const w of this.#wake.splice(0)) w();
  }

  /** Wait until a printed line matches `pred`; the timeout only bounds a hung child. */
  async line(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`child printed no such line: ${this.lines}`);
      await new Promise<void>((r) => {
        this.#wake.push(r);
        setTimeout(r, 200);
      });
    }
  }

  /** Write one line to the child's stdin. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(encoder.encode(line + "\n"));
  }

  /** Close stdin and wait for the child to exit. */
  async stop(): Promise<Deno.CommandStatus> {
    await this.#stdin.close().catch(() => {});
    const status = await this.#proc.status;
    await this.#done;
    return status;
  }
}
