// Baseline: the same function module served by Deno alone (Deno.serve on PORT), no basalt.
const real = Deno.serve.bind(Deno);
Deno.serve = (...args) => {
  const handler = args.find((a) => typeof a === "function") ?? args.find((a) => a?.handler)?.handler;
  return real({ hostname: "127.0.0.1", port: Number(Deno.env.get("PORT")), onListen: () => console.log("listening") }, handler);
};
await import(Deno.env.get("ENTRY"));
