// basalt edge bootstrap: runs inside one Deno process per function. It loads the function's
// module, captures the handler the module passes to `Deno.serve`, and serves that handler on a
// unix socket basalt proxies to. Lines starting with MARK on stdout are for basalt; every
// other line is the function's own log.
const MARK = "\u0001basalt-edge ";
const encoder = new TextEncoder();
const report = (message) =>
  Deno.stdout.writeSync(encoder.encode(MARK + JSON.stringify(message) + "\n"));
const describe = (e) => (e && e.stack) ? String(e.stack) : String(e);

// A promise nobody awaits logs its error instead of ending the worker.
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  console.error(`unhandled rejection: ${describe(event.reason)}`);
});

// EdgeRuntime.waitUntil: background work kept alive after the response; a retiring worker
// (SIGTERM) waits for it, up to a grace period.
const pending = new Set();
globalThis.EdgeRuntime = {
  waitUntil(promise) {
    const tracked = Promise.resolve(promise)
      .catch((e) => console.error(`waitUntil: ${describe(e)}`))
      .finally(() => pending.delete(tracked));
    pending.add(tracked);
    return promise;
  },
};
const grace = Number(Deno.env.get("BASALT_EDGE_GRACE_MS") ?? "5000");
Deno.addSignalListener("SIGTERM", async () => {
  await Promise.race([
    Promise.allSettled([...pending]),
    new Promise((r) => setTimeout(r, grace)),
  ]);
  Deno.exit(0);
});

// Deno.serve(handler), Deno.serve(options, handler), Deno.serve({ handler, ... }): keep the
// handler, hand back a server object that never listens itself.
const realServe = Deno.serve.bind(Deno);
let captured = null;
let handlerSeen;
const handlerReady = new Promise((r) => (handlerSeen = r));
Deno.serve = function (...args) {
  let handler;
  let options = {};
  for (const a of args) {
    if (typeof a === "function") handler = a;
    else if (a && typeof a === "object") {
      options = a;
      if (typeof a.handler === "function") handler = a.handler;
    }
  }
  if (!handler) throw new TypeError("Deno.serve: a handler function is required");
  captured = { handler, onError: options.onError };
  handlerSeen();
  return {
    finished: new Promise(() => {}),
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    shutdown: async () => {},
    ref() {},
    unref() {},
    async [Symbol.asyncDispose]() {},
  };
};

const entry = Deno.env.get("BASALT_EDGE_ENTRY");
const loaded = import(entry).then(
  () => null,
  (e) => e,
);
// Serve as soon as the handler is known, even when the module then awaits something forever.
const failure = await Promise.race([loaded, handlerReady.then(() => null)]);
if (failure !== null) {
  report({ boot_error: describe(failure) });
  Deno.exit(70);
}
if (!captured) {
  await loaded;
  if (!captured) {
    report({ boot_error: "the function's module did not call Deno.serve(handler)" });
    Deno.exit(70);
  }
}

const uncaught = (e) => {
  console.error(`uncaught error: ${describe(e)}`);
  return new Response(
    JSON.stringify({
      code: "WORKER_ERROR",
      message: `the function threw an uncaught error: ${e && e.message ? e.message : String(e)}`,
    }),
    {
      status: 500,
      headers: { "content-type": "application/json", "x-basalt-edge-outcome": "uncaught" },
    },
  );
};

realServe(
  {
    path: Deno.env.get("BASALT_EDGE_SOCKET"),
    onListen: () => report({ ready: true }),
  },
  async (request, info) => {
    try {
      return await captured.handler(request, info);
    } catch (e) {
      if (captured.onError) {
        try {
          return await captured.onError(e);
        } catch (again) {
          return uncaught(again);
        }
      }
      return uncaught(e);
    }
  },
);
