// One Runtime implementation over the onnxruntime JavaScript API, shared by onnxruntime-web (WASM
// EP) and onnxruntime-node (native CPU EP): both export the same InferenceSession and Tensor.
// Sessions run one at a time (a queue per runtime). Not the WebGPU kind (see index.ts).

import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-web';
import type {
  DeviceTensor, Feed, HostTensor, LoadOptions, RunOptions, Runtime, RuntimeDescription, Session,
} from './types.ts';
import { isDeviceTensor } from './types.ts';
import type { DType } from '../graph/types.ts';

/** The subset of the `onnxruntime-web` / `onnxruntime-node` module this file uses. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, opts?: OrtSession.SessionOptions): Promise<OrtSession> };
  Tensor: new (type: DType, data: HostTensor['data'], dims: readonly number[]) => OrtTensor;
}

class CpuDeviceTensor implements DeviceTensor {
  readonly kind = 'device';
  constructor(readonly tensor: OrtTensor) {}
  get dtype(): DType {
    return this.tensor.type as DType;
  }
  get dims(): readonly number[] {
    return this.tensor.dims;
  }
}

function toHost(t: OrtTensor): HostTensor {
  return { dtype: t.type as DType, dims: [...t.dims], data: t.data as HostTensor['data'] };
}

export class OrtRuntime implements Runtime {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ort: OrtModule,
    private readonly description: RuntimeDescription,
    private readonly sessionOptions: OrtSession.SessionOptions,
  ) {}

  /** Serializes work on this runtime: onnxruntime sessions are run one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private toOrt(t: Feed): OrtTensor {
    if (isDeviceTensor(t)) {
      if (!(t instanceof CpuDeviceTensor)) throw new Error('device tensor from another runtime');
      return t.tensor;
    }
    return new this.ort.Tensor(t.dtype, t.data, t.dims);
  }

  async load(model: Uint8Array, opts: LoadOptions = {}): Promise<Session> {
    const session = await this.exclusive(() =>
      this.ort.InferenceSession.create(model, {
        ...this.sessionOptions,
        graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
        ...(opts.disabledOptimizers?.length ? { extra: { optimization: { disable_specified_optimizers: opts.disabledOptimizers.join(',') } } } : {}),
      }),
    );
    const run = async (feeds: Record<string, Feed>, outputs?: string[], ropts: RunOptions = {}) => {
      const ortFeeds: Record<string, OrtTensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = this.toOrt(v);
      const names = outputs ?? [...session.outputNames];
      const result = await this.exclusive(() => session.run(ortFeeds, names));
      const out: Record<string, HostTensor | DeviceTensor> = {};
      for (const name of names) {
        const t = result[name];
        out[name] = ropts.keepOnDevice?.includes(name) ? new CpuDeviceTensor(t) : toHost(t);
      }
      return out;
    };
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run,
      release: () => this.exclusive(() => session.release()),
    };
  }

  async upload(t: HostTensor): Promise<DeviceTensor> {
    return new CpuDeviceTensor(new this.ort.Tensor(t.dtype, t.data, t.dims));
  }

  async download(t: DeviceTensor): Promise<HostTensor> {
    if (!(t instanceof CpuDeviceTensor)) throw new Error('device tensor from another runtime');
    return toHost(t.tensor);
  }

  dispose(t: DeviceTensor): void {
    if (t instanceof CpuDeviceTensor) t.tensor.dispose();
  }

  describe(): RuntimeDescription {
    return { ...this.description };
  }
}
