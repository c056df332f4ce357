// Whether this worker is one of onnxruntime-web's WASM threads rather than the worker its script
// was written for. onnxruntime's bundled emscripten code starts its threads as workers of the
// script that imported it (it passes import.meta.url) and names them 'em-pthread…' — the name its
// own code checks to run as a thread. So the engine and demo workers' scripts also start as
// onnxruntime's threads, and such a worker must do none of its own start-up: IndexedDB
// transactions it opened would never end once the thread blocks in Atomics.wait (and every other
// worker's writes to those stores would wait on them), and comlink would answer emscripten's
// messages.

export const isOrtThread = (): boolean => (globalThis as { name?: string }).name?.startsWith('em-pthread') ?? false;
