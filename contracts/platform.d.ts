// The few web-platform globals that browsers and Node both have and contracts/ uses.
// contracts/tsconfig.json gives it the ES library only, so anything else (a DOM or
// Node API) fails its typecheck; the root tsconfig has the real declarations instead.

declare function setTimeout(handler: () => void, ms?: number): unknown;
declare function clearTimeout(id: ReturnType<typeof setTimeout> | undefined): void;

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class URLSearchParams {
  constructor(init?: string[][]);
  toString(): string;
}
