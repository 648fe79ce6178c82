#!/usr/bin/env node
// Two to four thread-pool threads serve disk I/O best on these machines (eight
// was slower); libuv reads this once, before the pool's first use.
process.env.UV_THREADPOOL_SIZE ??= "4";
await import("../dist/src/cli/main.js");
