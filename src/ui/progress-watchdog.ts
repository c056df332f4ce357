// Notices work in the engine worker that stopped making progress: an encode (evaluation, mining,
// the explorer) or a training update whose progress events stopped coming. The worker cannot say
// so itself (a worker stuck in a WASM call or in Atomics.wait runs none of its own code), so the
// page watches the events it gets. Pure logic over an injected clock, so it is tested in Node; the
// engine (engine.svelte.ts) polls check() and terminates the worker when it returns a message.
//
// The bound: a stall is a gap since the last progress event longer than
//   max(floor, STALL_MULTIPLE × the slowest gap seen so far in this phase).
// - The floor, 120 s: the first gap of a phase includes building and compiling its onnxruntime
//   session (seconds on WASM, up to tens of seconds for a WebGPU shader cache on a slow machine),
//   and progress is reported per batch, so one batch of a large model on one WASM thread can take
//   tens of seconds; a floor well above that never stops healthy work on a slow machine. Training
//   reports below the update for this reason: each session it compiles before the first update,
//   and each GradCache mini-batch of both passes (an update of bge-base with LoRA on one WASM
//   thread takes ~160 s, bge-large's several minutes, where one mini-batch takes 4–30 s). The
//   fused step is one onnxruntime call with nothing to report inside; the page takes it only
//   where a whole batch's activations fit the budget (on the defaults, not even bge-small's do).
// - The multiple, 20×: work in one phase is batches of the same size, so one batch 20 times slower
//   than the slowest before it is not the machine being slow (a busy tab, a background GC pause
//   and thermal throttling cost a few times, not twenty); it scales the bound for big models whose
//   batches are already slow (a 10 s update gives 200 s).
// - The floor grows with the model: 120 s is for bge-base's per-token work (12 layers of
//   4C² + 2CF multiply-adds, C 768, F 3,072) and larger models get it times their work ÷ bge-base's
//   (bge-large and bge-m3: 24 layers of C 1,024, F 4,096: 3.56×, 427 s). One encode batch of 32
//   texts of ~92 tokens of a bge-large shape took 154 s on one WASM thread of a loaded 2-core machine
//   (Node, onnxruntime-web); a fixed 120 s would call an evaluation of it stalled on such a machine,
//   or in Firefox (one WASM thread always).
// The slowest gap starts again at each phase: an update is not an encode batch.
// Not a timeout for the whole call, and not a judge of slow work that keeps reporting.

export const STALL_FLOOR_MS = 120_000;
export const STALL_MULTIPLE = 20;

/** The encoder's shape fields the floor reads (a ModelShape fits). */
export interface FloorShape {
  hiddenSize: number;
  numLayers: number;
  intermediateSize: number;
}

/** Per-token multiply-adds of the encoder's linear layers. */
const linearWork = (s: FloorShape) => s.numLayers * (4 * s.hiddenSize ** 2 + 2 * s.hiddenSize * s.intermediateSize);
const BGE_BASE_WORK = linearWork({ hiddenSize: 768, numLayers: 12, intermediateSize: 3072 });

/** The floor for work on a model of this shape (none loaded: the plain floor). */
export function stallFloorFor(shape: FloorShape | null): number {
  return shape ? Math.round(STALL_FLOOR_MS * Math.max(1, linearWork(shape) / BGE_BASE_WORK)) : STALL_FLOOR_MS;
}

export interface WatchProgress {
  /** What the work is doing, as the page says it: "evaluating the base model", "training". */
  phase: string;
  done: number;
  total: number | null;
  /** What `done` counts: "texts", "updates". */
  unit: string;
}

export class ProgressWatchdog {
  readonly #now: () => number;
  readonly #floorMs: number;
  #last: number;
  #slowest = 0;
  #at: WatchProgress;

  constructor(start: WatchProgress, options: { now?: () => number; floorMs?: number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#floorMs = options.floorMs ?? STALL_FLOOR_MS;
    this.#last = this.#now();
    this.#at = start;
  }

  /** The gap after which the current phase counts as stalled. */
  get boundMs(): number {
    return Math.max(this.#floorMs, STALL_MULTIPLE * this.#slowest);
  }

  /** Records a progress event; a new phase starts its own measure. */
  progress(at: WatchProgress): void {
    const t = this.#now();
    if (at.phase !== this.#at.phase) this.#slowest = 0;
    else this.#slowest = Math.max(this.#slowest, t - this.#last);
    this.#last = t;
    this.#at = at;
  }

  /** null while the work makes progress; once it has not for longer than the bound, what to tell the user. */
  check(): string | null {
    const idle = this.#now() - this.#last;
    if (idle <= this.boundMs) return null;
    const { phase, done, total, unit } = this.#at;
    return `${phase}: no progress for ${Math.floor(idle / 1000)} s after ${done}${total === null ? '' : ` of ${total}`} ${unit}`;
  }
}
