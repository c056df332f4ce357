// Types for the `#onnxruntime-web` import (package.json "imports"): both builds it maps to share
// onnxruntime-web's API, whose own types.d.ts is not a module and so cannot be the target.
export * from 'onnxruntime-web';
