// Loading the project's WebAssembly modules (the .wat files here, assembled into binaries.ts).
import { Buffer } from 'node:buffer';

// Node has WebAssembly; TypeScript's ES libs leave it to lib.dom, so describe what is used.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

export interface WasmExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly [name: string]: unknown;
}

/** The exports of the module in `base64`, or null where the runtime cannot run it (no SIMD). */
export function instantiate(base64: string): WasmExports | null {
  try {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(base64, 'base64')));
    return exports as unknown as WasmExports;
  } catch {
    return null;
  }
}
