// The page's default text-generation model id, in a module the main thread can import: the
// generator's own module (src/lib/generate/generator.ts) loads transformers.js, which belongs in
// the worker only. generate-defaults.test.ts checks that the two agree.

/** A small instruct model with q4f16 and q8 ONNX variants; any other by id. */
export const DEFAULT_GENERATOR_ID = 'onnx-community/Qwen2.5-0.5B-Instruct';
