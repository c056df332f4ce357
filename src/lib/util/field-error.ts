// One shape for "this input field is wrong": the field's path (a run config key such as
// `loss.scale`, or a file's key path) and the reason in words. The loss, prompt, trainable and
// run-config readers each throw their own subclass (so callers can tell who refused), and the
// run-config reader turns any of them into its own error with one adapter (`asRunConfigError` in
// src/lib/train/run-config.ts) instead of one try/catch per section. Subclasses set `name` as a
// string field: class names do not survive minification.

export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'FieldError';
  }
}
